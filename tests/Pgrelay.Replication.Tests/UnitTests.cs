using System.Text;
using Pgrelay.Core.Changes;
using Pgrelay.Core.Model;
using Pgrelay.Core.Rows;
using Pgrelay.Replication.Connection;
using Pgrelay.Replication.Slots;
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
    public void Default_slot_names_are_valid_and_unique_per_instance()
    {
        var name = SlotNames.NewFor("My-Shop");
        Assert.Matches("^pgrelay_my_shop_[0-9a-f]{8}$", name);
        Assert.NotEqual(name, SlotNames.NewFor("My-Shop"));
        Assert.True(SlotNames.IsValid(SlotNames.NewFor(new string('x', 100))));
    }

    [Fact]
    public void A_state_directory_keeps_the_instance_slot_and_what_it_created()
    {
        var dir = Path.Combine(Path.GetTempPath(), "pgrelay-slot-" + Guid.NewGuid().ToString("N"));
        try
        {
            var first = InstanceSlot.Resolve(null, "shop", dir);
            Assert.True(first.IsOwned);   // a generated name is this instance's before the slot exists
            Assert.Equal(first.Name, InstanceSlot.Resolve(null, "shop", dir).Name);

            var named = InstanceSlot.Resolve("shared", "shop", dir);
            Assert.False(named.IsOwned);
            named.Created();
            Assert.True(InstanceSlot.Resolve("shared", "shop", dir).IsOwned);
            Assert.False(InstanceSlot.Resolve("other", "shop", dir).IsOwned);
            Assert.False(InstanceSlot.Resolve("shared", "shop", null).IsOwned);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
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

public sealed class ReloadTailTests
{
    private static readonly TableSchema T = new(1, "public", "t", [new ColumnSchema("id", PgTypes.Int4, -1, true)], ReplicaIdentity.Default);

    private static RowChange Insert(int id) => new(ChangeKind.Insert, T, RowBuilder.FromText(id.ToString()));

    [Theory]
    [InlineData(1L << 30)]   // in memory
    [InlineData(0L)]         // every change spilled
    public void Keeps_committed_transactions_in_order_drops_what_never_committed_and_reads_twice(long spillThreshold)
    {
        using var tail = new Reloads.ReloadTail(spillThreshold, Path.GetTempPath());
        tail.Add(Insert(1));
        tail.Add(Insert(2));
        tail.Commit(10, new Lsn(0x100), new Lsn(0x108), DateTimeOffset.UnixEpoch);
        tail.Add(Insert(3));
        tail.DropPending();   // its apply failed; the transaction comes again
        tail.Commit(11, new Lsn(0x200), new Lsn(0x208), DateTimeOffset.UnixEpoch);   // nothing of it touched the table
        tail.Add(Insert(3));
        tail.Commit(12, new Lsn(0x300), new Lsn(0x308), DateTimeOffset.UnixEpoch);

        static List<string> Ids(Reloads.ReloadTail t) =>
            t.Read().Select(x => $"{x.Transaction.Xid}:" + string.Join(",", x.Changes.Select(c => Encoding.UTF8.GetString(new RowView(c.NewRow!).Value(0))))).ToList();
        Assert.Equal(["10:1,2", "12:3"], Ids(tail));
        tail.Add(Insert(4));   // grows after a read
        tail.Commit(13, new Lsn(0x400), new Lsn(0x408), DateTimeOffset.UnixEpoch);
        Assert.Equal(["10:1,2", "12:3", "13:4"], Ids(tail));
    }

    [Fact]
    public void Keeps_copies_of_the_rows_the_store_will_stamp()
    {
        using var tail = new Reloads.ReloadTail(1L << 30, Path.GetTempPath());
        var change = Insert(7);
        tail.Add(change);
        tail.Commit(1, new Lsn(0x100), new Lsn(0x108), DateTimeOffset.UnixEpoch);
        RowFormat.WriteLsn(change.NewRow!, 0xdead);
        Assert.Equal(0UL, RowFormat.ReadLsn(tail.Read().Single().Changes.Single().NewRow!));
    }
}
