using System.Net;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Pgrelay.Core.Changes;
using Pgrelay.Core.Model;
using Pgrelay.Http.Changes;
using Pgrelay.Store;
using static Pgrelay.Http.Tests.TestData;

namespace Pgrelay.Http.Tests;

/// <summary>GET /changes and /{publication}/{table}/changes as server-sent events over real Kestrel.</summary>
public class ChangeStreamTests
{
    private static readonly TableSchema Words = new(202, "public", "words",
    [
        new ColumnSchema("word", PgTypes.Text, -1, true),
        new ColumnSchema("n", PgTypes.Int4, -1, false),
    ], ReplicaIdentity.Default);

    private static JsonElement Data(SseEvent e) => JsonDocument.Parse(e.Data).RootElement;

    private static Transaction Insert(string name, string state, string population) =>
        Txn(new RowChange(ChangeKind.Insert, Cities, Row(name, state, population)));

    [Fact]
    public async Task A_committed_transaction_arrives_as_one_event_with_its_lsn_as_id()
    {
        var store = ReadyStore(Row("Tulsa", "OK", "1"));
        await using var server = await RelayServer.StartAsync(store);
        await using var stream = await SseReader.OpenAsync(server.Client, "/changes");
        Assert.Equal("text/event-stream", stream.Response.Content.Headers.ContentType?.MediaType);

        var txn = Txn(new RowChange(ChangeKind.Insert, Cities, Row("Austin", "TX", "3")),
            new RowChange(ChangeKind.Update, Cities, Row("Tulsa", "OK", "2")),
            new RowChange(ChangeKind.Delete, Cities, OldRow: Row("Austin", "TX", null)));
        store.Apply(txn);

        var e = await stream.ReadEventAsync();
        Assert.NotNull(e);
        Assert.Equal("transaction", e.Event);
        Assert.Equal(txn.CommitLsn.ToString(), e.Id);
        Assert.DoesNotContain('\n', e.Data);
        var data = Data(e);
        Assert.Equal(txn.CommitLsn.ToString(), data.GetProperty("lsn").GetString());
        Assert.Equal(7u, data.GetProperty("xid").GetUInt32());
        Assert.True(data.GetProperty("commit_time").GetDateTimeOffset() > DateTimeOffset.UnixEpoch);
        var changes = data.GetProperty("changes");
        Assert.Equal(3, changes.GetArrayLength());

        var insert = changes[0];
        Assert.Equal("c", insert.GetProperty("op").GetString());
        Assert.Equal("pub", insert.GetProperty("publication").GetString());
        Assert.Equal("geo.cities", insert.GetProperty("table").GetString());
        Assert.Equal("Austin/TX", insert.GetProperty("key").GetString());
        Assert.Equal(JsonValueKind.Null, insert.GetProperty("before").ValueKind);
        Assert.Equal("""{"name":"Austin","state":"TX","population":3}""", insert.GetProperty("after").GetRawText());

        var update = changes[1];
        Assert.Equal("u", update.GetProperty("op").GetString());
        Assert.Equal("Tulsa/OK", update.GetProperty("key").GetString());
        Assert.Equal(1, update.GetProperty("before").GetProperty("population").GetInt32());
        Assert.Equal(2, update.GetProperty("after").GetProperty("population").GetInt32());

        var delete = changes[2];
        Assert.Equal("d", delete.GetProperty("op").GetString());
        Assert.Equal("Austin/TX", delete.GetProperty("key").GetString());
        Assert.Equal(3, delete.GetProperty("before").GetProperty("population").GetInt32());
        Assert.Equal(JsonValueKind.Null, delete.GetProperty("after").ValueKind);
    }

    [Fact]
    public async Task The_summary_format_counts_changes_per_table_and_operation_instead_of_rows()
    {
        var store = ReadyStore(Row("Tulsa", "OK", "1"));
        await using var server = await RelayServer.StartAsync(store);
        await using var stream = await SseReader.OpenAsync(server.Client, "/changes?format=summary");
        await using var tableStream = await SseReader.OpenAsync(server.Client, "/pub/everything/changes?format=summary");

        var txn = Txn(new RowChange(ChangeKind.Insert, Cities, Row("Austin", "TX", "3")),
            new RowChange(ChangeKind.Update, Everything, Row(EverythingRow)),
            new RowChange(ChangeKind.Insert, Cities, Row("Salem", "OR", "2")),
            new RowChange(ChangeKind.Update, Cities, Row("Tulsa", "OK", "2")),
            new RowChange(ChangeKind.Delete, Cities, OldRow: Row("Austin", "TX", null)));
        store.Apply(txn);

        var e = (await stream.ReadEventAsync())!;
        Assert.Equal("transaction", e.Event);
        Assert.Equal(txn.CommitLsn.ToString(), e.Id);
        var data = Data(e);
        Assert.Equal(txn.CommitLsn.ToString(), data.GetProperty("lsn").GetString());
        Assert.Equal(7u, data.GetProperty("xid").GetUInt32());
        Assert.Equal(5, data.GetProperty("changes").GetInt32());
        Assert.Equal("""[{"publication":"pub","table":"geo.cities","c":2,"u":1,"d":1,"t":0},{"publication":"pub","table":"everything","c":0,"u":1,"d":0,"t":0}]""",
            data.GetProperty("tables").GetRawText());

        var scoped = Data((await tableStream.ReadEventAsync())!);   // the table stream counts only its table
        Assert.Equal(1, scoped.GetProperty("changes").GetInt32());
        Assert.Equal("everything", scoped.GetProperty("tables")[0].GetProperty("table").GetString());
        Assert.Equal(1, scoped.GetProperty("tables").GetArrayLength());
    }

    [Fact]
    public async Task An_unknown_format_is_a_400()
    {
        await using var server = await RelayServer.StartAsync(ReadyStore());
        var response = await server.Client.GetAsync("/changes?format=xml");
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("use rows (the default) or summary", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Truncate_is_op_t_without_key_or_rows()
    {
        var store = ReadyStore(Row("Tulsa", "OK", "1"));
        await using var server = await RelayServer.StartAsync(store);
        await using var stream = await SseReader.OpenAsync(server.Client, "/changes");
        store.Apply(Txn(new RowChange(ChangeKind.Truncate, Cities)));
        var change = Data((await stream.ReadEventAsync())!).GetProperty("changes")[0];
        Assert.Equal("t", change.GetProperty("op").GetString());
        Assert.Equal("geo.cities", change.GetProperty("table").GetString());
        Assert.Equal(JsonValueKind.Null, change.GetProperty("key").ValueKind);
    }

    [Fact]
    public async Task A_table_stream_shows_only_that_table_and_skips_transactions_without_it()
    {
        var store = ReadyStore(Row("Tulsa", "OK", "1"));
        await using var server = await RelayServer.StartAsync(store);
        await using var stream = await SseReader.OpenAsync(server.Client, "/pub/geo.cities/changes");

        var everythingOnly = Txn(new RowChange(ChangeKind.Update, Everything, Row(EverythingRow)));
        var mixed = Txn(new RowChange(ChangeKind.Update, Everything, Row(EverythingRow)),
            new RowChange(ChangeKind.Insert, Cities, Row("Salem", "OR", "2")));
        store.Apply(everythingOnly);
        store.Apply(mixed);

        var e = (await stream.ReadEventAsync())!;
        Assert.Equal(mixed.CommitLsn.ToString(), e.Id);   // the first transaction had nothing for this table
        var changes = Data(e).GetProperty("changes");
        Assert.Equal(1, changes.GetArrayLength());
        Assert.Equal("Salem/OR", changes[0].GetProperty("key").GetString());
        Assert.Equal("pub", changes[0].GetProperty("publication").GetString());
    }

    [Fact]
    public async Task Resuming_with_Last_Event_ID_or_after_delivers_exactly_the_missed_transactions()
    {
        var store = ReadyStore();
        await using var server = await RelayServer.StartAsync(store);
        string firstId;
        await using (var stream = await SseReader.OpenAsync(server.Client, "/changes"))
        {
            store.Apply(Insert("A", "1", "1"));
            firstId = (await stream.ReadEventAsync())!.Id!;
        }
        var missed = new[] { Insert("B", "1", "2"), Insert("C", "1", "3") };
        foreach (var t in missed) store.Apply(t);

        await using var resumed = await SseReader.OpenAsync(server.Client, "/changes", lastEventId: firstId);
        // The header wins over ?after (an EventSource keeps its original URL when it reconnects).
        await using var byQuery = await SseReader.OpenAsync(server.Client, "/changes?after=" + firstId);
        foreach (var reader in new[] { resumed, byQuery })
            foreach (var t in missed)
                Assert.Equal(t.CommitLsn.ToString(), (await reader.ReadEventAsync())!.Id);

        var next = Insert("D", "1", "4");
        store.Apply(next);
        Assert.Equal(next.CommitLsn.ToString(), (await resumed.ReadEventAsync())!.Id);   // no duplicate, no gap
        Assert.Equal(next.CommitLsn.ToString(), (await byQuery.ReadEventAsync())!.Id);
    }

    [Fact]
    public async Task A_position_before_the_retained_feed_gets_a_reset_then_live_events()
    {
        var store = ReadyStore();   // snapshot consistent point 0/1000: nothing before it can be replayed
        var applied = Insert("A", "1", "1");
        store.Apply(applied);
        await using var server = await RelayServer.StartAsync(store);
        await using var stream = await SseReader.OpenAsync(server.Client, "/changes", lastEventId: "0/500");

        var reset = (await stream.ReadEventAsync())!;
        Assert.Equal("reset", reset.Event);
        Assert.Equal(applied.CommitLsn.ToString(), reset.Id);
        Assert.Contains("re-read current state", Data(reset).GetProperty("reason").GetString());

        var next = Insert("B", "1", "2");
        store.Apply(next);
        var e = (await stream.ReadEventAsync())!;
        Assert.Equal("transaction", e.Event);
        Assert.Equal(next.CommitLsn.ToString(), e.Id);
    }

    [Fact]
    public async Task A_new_snapshot_while_streaming_resets_the_stream()
    {
        var store = ReadyStore();
        await using var server = await RelayServer.StartAsync(store);
        await using var stream = await SseReader.OpenAsync(server.Client, "/changes");
        store.Apply(Insert("A", "1", "1"));
        Assert.Equal("transaction", (await stream.ReadEventAsync())!.Event);

        store.BeginSnapshot([new PublicationSchema("pub", [Everything, Cities])]);
        store.CompleteSnapshot(new Lsn(0x900000));
        var next = Commit(0x900100, "C");
        store.Apply(next);

        var reset = (await stream.ReadEventAsync())!;
        Assert.Equal("reset", reset.Event);
        // The reset point is the newest commit when the stream noticed: C is either covered by it or follows it.
        if (reset.Id != next.CommitLsn.ToString()) Assert.Equal(next.CommitLsn.ToString(), (await stream.ReadEventAsync())!.Id);
        var last = Commit(0x900200, "D");
        store.Apply(last);
        Assert.Equal(last.CommitLsn.ToString(), (await stream.ReadEventAsync())!.Id);
    }

    private static Transaction Commit(ulong lsn, string name) =>
        new(8, new Lsn(lsn), new Lsn(lsn + 8), DateTimeOffset.UtcNow, 1, [new RowChange(ChangeKind.Insert, Cities, Row(name, "1", "3"))]);

    [Fact]
    public async Task Publication_filter_on_the_unscoped_stream()
    {
        await using var server = await RelayServer.StartAsync(ReadyStore());
        var unknown = await server.Client.GetAsync("/changes?publication=nope");
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        Assert.Contains("unknown publication", await unknown.Content.ReadAsStringAsync());
    }

    [Theory]
    [InlineData("/changes?after=yesterday")]
    [InlineData("/pub/geo.cities/changes?after=1")]
    public async Task A_position_that_is_not_an_lsn_is_a_400(string path)
    {
        await using var server = await RelayServer.StartAsync(ReadyStore());
        var response = await server.Client.GetAsync(path);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("is not an LSN", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Unknown_table_stream_is_a_json_404()
    {
        await using var server = await RelayServer.StartAsync(ReadyStore());
        var response = await server.Client.GetAsync("/pub/nope/changes");
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Contains("has no table 'nope'", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task A_row_whose_key_is_changes_stays_reachable_percent_encoded()
    {
        var store = new ReplicatedStore();
        store.BeginSnapshot([new PublicationSchema("pub", [Words])]);
        store.LoadSnapshotRows(Words, [Row("changes", "1"), Row("other", "2")]);
        store.CompleteSnapshot(new Lsn(0x1000));
        await using var server = await RelayServer.StartAsync(store);

        await using (var stream = await SseReader.OpenAsync(server.Client, "/pub/words/changes"))
            Assert.Equal("text/event-stream", stream.Response.Content.Headers.ContentType?.MediaType);
        // System.Uri unescapes %63 to "c" before sending, so the percent-encoded target goes over a raw socket.
        Assert.Contains("""{"word":"changes","n":1}""", await RawGetAsync(server.BaseAddress, "/pub/words/%63hanges"));
        Assert.Equal("""{"word":"other","n":2}""", await server.Client.GetStringAsync("/pub/words/other"));
    }

    [Fact]
    public async Task Idle_streams_get_keepalive_comments()
    {
        await using var server = await RelayServer.StartAsync(ReadyStore(), configure: services =>
            services.AddSingleton(new ChangeStreamOptions { HeartbeatInterval = TimeSpan.FromMilliseconds(50) }));
        await using var stream = await SseReader.OpenAsync(server.Client, "/changes");
        Assert.Equal("keepalive", await stream.ReadCommentAsync());
    }

    [Fact]
    public async Task Host_shutdown_ends_open_streams_cleanly()
    {
        var server = await RelayServer.StartAsync(ReadyStore());
        await using var stream = await SseReader.OpenAsync(server.Client, "/changes");
        var stopping = server.DisposeAsync().AsTask();
        Assert.True(await stream.EndsCleanlyAsync());
        await stopping;
    }

    private static async Task<string> RawGetAsync(Uri server, string target)
    {
        using var client = new System.Net.Sockets.TcpClient();
        await client.ConnectAsync(server.Host, server.Port);
        await using var stream = client.GetStream();
        var request = System.Text.Encoding.ASCII.GetBytes($"GET {target} HTTP/1.1\r\nHost: {server.Authority}\r\nConnection: close\r\n\r\n");
        await stream.WriteAsync(request);
        using var reader = new StreamReader(stream);
        string response = await reader.ReadToEndAsync().WaitAsync(TimeSpan.FromSeconds(30));
        Assert.StartsWith("HTTP/1.1 200", response);
        return response.TrimEnd();
    }
}
