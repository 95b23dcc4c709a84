using System.Text;
using Pgrelay.Core.Changes;
using Pgrelay.Core.Model;
using Pgrelay.Core.Rows;
using Pgrelay.Replication.Connection;
using Pgrelay.Replication.Snapshot;
using Pgrelay.Replication.Streaming;
using Xunit;

namespace Pgrelay.Replication.Tests;

public sealed class CopyTextParserTests
{
    private static List<string?[]> Parse(string text, int columns, int chunk)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        var parser = new CopyTextParser(columns);
        var rows = new List<byte[]>();
        for (int i = 0; i < bytes.Length; i += chunk) parser.Feed(bytes.AsSpan(i, Math.Min(chunk, bytes.Length - i)), rows);
        parser.Finish();
        return rows.Select(r =>
        {
            var view = new RowView(r);
            return Enumerable.Range(0, columns).Select(c => view.IsNull(c) ? null : Encoding.UTF8.GetString(view.Value(c))).ToArray();
        }).ToList();
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4096)]
    public void Parses_fields_nulls_and_escapes_across_any_chunking(int chunk)
    {
        var rows = Parse("1\tplain\t\\N\n2\ttab\\there\\nnl\\\\bs\t\n3\t\\101\\x42\\7\\x4g\\q\tü€\n", 3, chunk);
        Assert.Equal(3, rows.Count);
        Assert.Equal(new string?[] { "1", "plain", null }, rows[0]);
        Assert.Equal(new string?[] { "2", "tab\there\nnl\\bs", "" }, rows[1]);
        Assert.Equal(new string?[] { "3", "AB\u0007\u0004gq", "ü€" }, rows[2]);
    }

    [Fact]
    public void A_row_with_the_wrong_field_count_or_a_cut_off_end_is_an_error()
    {
        Assert.Throws<FormatException>(() => Parse("1\t2\n", 3, 100));
        Assert.Throws<FormatException>(() => Parse("1\t2", 2, 100));
    }
}

public sealed class SourceOptionsTests
{
    [Fact]
    public void Urls_carry_user_password_host_port_database_and_sslmode()
    {
        var s = SourceOptions.Parse("postgresql://app%40corp:p%3Ass@db.example:6543/shop?sslmode=require");
        var cs = new Npgsql.NpgsqlConnectionStringBuilder(s.ConnectionString());
        Assert.Equal("app@corp", cs.Username);
        Assert.Equal("p:ss", cs.Password);
        Assert.Equal("db.example", cs.Host);
        Assert.Equal(6543, cs.Port);
        Assert.Equal("shop", cs.Database);
        Assert.Equal(Npgsql.SslMode.Require, cs.SslMode);
        Assert.Contains("DateStyle=ISO", cs.Options);
        Assert.Contains("bytea_output=hex", cs.Options);
    }

    [Fact]
    public void Connection_strings_are_accepted_and_get_the_session_settings()
    {
        var s = SourceOptions.Parse("Host=localhost;Port=5433;Username=u;Database=d");
        Assert.Equal("localhost:5433", s.Endpoint);
        Assert.Contains("extra_float_digits=3", new Npgsql.NpgsqlConnectionStringBuilder(s.ConnectionString()).Options);
    }

    [Fact]
    public void Bad_sources_are_one_line_setup_errors()
    {
        var e = Assert.Throws<ReplicationSetupException>(() => SourceOptions.Parse("postgres://h/db?sslmode=sometimes"));
        Assert.Contains("sslmode", e.Message);
        Assert.Throws<ReplicationSetupException>(() => SourceOptions.Parse("Nonsense Keyword=1"));
    }

    [Fact]
    public void Default_slot_names_are_valid()
    {
        Assert.Equal("pgrelay_my_shop", SlotNames.DefaultFor("My-Shop"));
        Assert.True(SlotNames.IsValid(SlotNames.DefaultFor(new string('x', 100))));
    }

    [Theory]
    [InlineData("{42}", "42")]
    [InlineData("{\"a b\"}", "a b")]
    [InlineData("{\"q\\\"x\"}", "q\"x")]
    [InlineData("{NULL}", null)]
    public void Missing_values_come_out_of_their_array_literal(string literal, string? expected) =>
        Assert.Equal(expected, MissingValueLookup.SingleElement(literal));
}

public sealed class TransactionBufferTests
{
    private static readonly TableSchema Table = new(1, "public", "t",
        [new ColumnSchema("id", PgTypes.Int4, -1, true), new ColumnSchema("v", PgTypes.Text, -1, false)], ReplicaIdentity.Default);

    private static RowChange Insert(int id)
    {
        var b = new RowBuilder();
        b.AddValue(id.ToString());
        b.AddValue(new string('v', 100));
        return new RowChange(ChangeKind.Insert, Table, b.Build());
    }

    private static List<int> Ids(TransactionBuffer buffer) =>
        buffer.TakeChanges().Select(c => int.Parse(Encoding.UTF8.GetString(new RowView(c.NewRow!).Value(0)))).ToList();

    [Theory]
    [InlineData(long.MaxValue)] // all in memory
    [InlineData(1000)]          // spills every few changes: the rollback point lands in the file
    [InlineData(20_000)]        // the rollback point may be in memory while earlier changes are spilled
    public void Rolled_back_subtransactions_are_cut_off_wherever_their_changes_are(long threshold)
    {
        using var buffer = new TransactionBuffer(100, threshold, Path.GetTempPath());
        for (int i = 0; i < 50; i++) buffer.Add(Insert(i), 100);
        for (int i = 50; i < 120; i++) buffer.Add(Insert(i), 101);   // savepoint 1, rolled back below
        for (int i = 120; i < 130; i++) buffer.Add(Insert(i), 102);  // nested inside 101: goes with it
        buffer.AbortSubtransaction(101);
        for (int i = 130; i < 140; i++) buffer.Add(Insert(i), 103);
        buffer.AbortSubtransaction(999);                             // made no changes: nothing happens
        for (int i = 140; i < 150; i++) buffer.Add(Insert(i), 100);
        Assert.Equal(70, buffer.Count);
        Assert.Equal(Enumerable.Range(0, 50).Concat(Enumerable.Range(130, 20)), Ids(buffer));
    }

    [Fact]
    public void Spilled_changes_come_back_in_order_with_their_schemas()
    {
        using var buffer = new TransactionBuffer(7, 4096, Path.GetTempPath());
        for (int i = 0; i < 1000; i++) buffer.Add(Insert(i));
        Assert.True(buffer.Spilled);
        Assert.Equal(Enumerable.Range(0, 1000), Ids(buffer));
    }
}

public sealed class StallWatchdogTests
{
    private static readonly DateTime T0 = new(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc);
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public void A_quiet_decoder_with_an_old_undecoded_heartbeat_is_suspected()
    {
        var watchdog = new StallWatchdog(Timeout);
        watchdog.OnBeat(new Lsn(500), T0, decoded: new Lsn(100));
        watchdog.OnBeat(new Lsn(600), T0.AddSeconds(10), decoded: new Lsn(100)); // the oldest undecoded beat is the evidence
        watchdog.Waiting(T0);
        Assert.Null(watchdog.Suspect(T0.AddSeconds(29), new Lsn(100)));
        Assert.Equal(new Lsn(500), watchdog.Suspect(T0.AddSeconds(31), new Lsn(100)));
        Assert.True(StallWatchdog.Stalled(new Lsn(500), serverSent: new Lsn(700)));
        Assert.False(StallWatchdog.Stalled(new Lsn(500), serverSent: new Lsn(400))); // the server is still busy before it
    }

    [Fact]
    public void A_decoder_busy_with_a_message_or_past_the_heartbeat_is_not_suspected()
    {
        var watchdog = new StallWatchdog(Timeout);
        watchdog.OnBeat(new Lsn(500), T0, decoded: new Lsn(100));
        watchdog.Waiting(T0);
        watchdog.Received(); // applying a big transaction: not waiting on the server
        Assert.Null(watchdog.Suspect(T0.AddMinutes(5), new Lsn(100)));
        watchdog.Waiting(T0.AddMinutes(5));
        Assert.Null(watchdog.Suspect(T0.AddMinutes(10), new Lsn(500))); // the heartbeat was decoded: just idle
        watchdog.OnBeat(new Lsn(900), T0.AddMinutes(10), decoded: new Lsn(500));
        Assert.Null(watchdog.Suspect(T0.AddMinutes(10).AddSeconds(5), new Lsn(500)));
        Assert.Equal(new Lsn(900), watchdog.Suspect(T0.AddMinutes(11), new Lsn(500)));
    }
}
