using System.Text.Json;
using Pgrelay.Core.Model;
using Pgrelay.Testing;
using StackExchange.Redis;

namespace Pgrelay.Sinks.Tests;

/// <summary>The redis-stream sink against a real PostgreSQL source and a real redis-server.</summary>
public abstract class RedisStreamSinkTests(PostgresFixture pg) : RedisSinkTests(pg)
{
    public sealed class PG14(Postgres14Fixture pg) : RedisStreamSinkTests(pg), IClassFixture<Postgres14Fixture>;
    public sealed class PG15(PostgresFixture pg) : RedisStreamSinkTests(pg), IClassFixture<PostgresFixture>;
    public sealed class PG16(Postgres16Fixture pg) : RedisStreamSinkTests(pg), IClassFixture<Postgres16Fixture>;
    public sealed class PG17(Postgres17Fixture pg) : RedisStreamSinkTests(pg), IClassFixture<Postgres17Fixture>;
    public sealed class PG18(Postgres18Fixture pg) : RedisStreamSinkTests(pg), IClassFixture<Postgres18Fixture>;

    /// <summary>One stream entry: its fields, and the event document parsed.</summary>
    private sealed record Entry(RedisValue EntryId, string Id, string Op, string Table, string Key, string Json)
    {
        public JsonElement Event { get; } = JsonDocument.Parse(Json).RootElement;
        public Lsn Lsn => Lsn.Parse(Id[..Id.IndexOf(':')]);
        public int Index => int.Parse(Id[(Id.IndexOf(':') + 1)..]);
    }

    /// <summary>Every entry of the stream in stream order, sync markers left out, and the truncates that open a load
    /// (<c>"snapshot":true</c>) unless <paramref name="loadMarkers"/>.</summary>
    private static async Task<List<Entry>> ReadAsync(string address, string stream, bool loadMarkers = false)
    {
        await using var redis = await ConnectionMultiplexer.ConnectAsync(address);
        var entries = await redis.GetDatabase().StreamRangeAsync(stream, "-", "+");
        return entries.Select(e => new Entry(e.Id, e["id"]!, e["op"]!, e["table"]!, e["key"]!, e["event"]!))
            .Where(e => e.Table != "public.sync_marker" && (loadMarkers || !e.Json.Contains("\"snapshot\":true"))).ToList();
    }

    private static async Task<long> LengthAsync(string address, string stream)
    {
        await using var redis = await ConnectionMultiplexer.ConnectAsync(address);
        return await redis.GetDatabase().StreamLengthAsync(stream);
    }

    /// <summary>The entries once each (the first copy), checking that every copy of an id is the same event.</summary>
    private static List<Entry> Distinct(List<Entry> entries)
    {
        var first = new Dictionary<string, Entry>();
        var distinct = new List<Entry>();
        foreach (var e in entries)
        {
            if (first.TryGetValue(e.Id, out var earlier))
                Assert.Equal((earlier.Op, earlier.Table, earlier.Key, earlier.Json), (e.Op, e.Table, e.Key, e.Json));
            else
            {
                first[e.Id] = e;
                distinct.Add(e);
            }
        }
        return distinct;
    }

    /// <summary>Commit order: LSNs never go back; within a transaction the index grows.</summary>
    private static void AssertCommitOrder(List<Entry> entries)
    {
        for (int i = 1; i < entries.Count; i++)
        {
            var (a, b) = (entries[i - 1], entries[i]);
            Assert.True(a.Lsn < b.Lsn || (a.Lsn == b.Lsn && a.Index < b.Index), $"{a.Id} then {b.Id}");
        }
    }

    private SinkRig StartStream(string source, string address, string stream, string more = "", string rules = "[]") =>
        Start(source, $$"""
            "events": { "type": "redis-stream", "address": "{{address}}", "stream": "{{stream}}"{{more}} }
            """, rules);

    [Fact]
    public async Task Snapshot_and_changes_arrive_in_commit_order_with_the_documented_fields()
    {
        var source = await NewSourceAsync("INSERT INTO items (id, name, qty) VALUES (1, 'one', 1), (2, 'two', 2);");
        await using var redis = await RedisServerProcess.StartAsync();
        await using var rig = StartStream(source, redis.Address, "events");
        await rig.SyncAsync();

        await Pg.ExecuteAsync(source, "INSERT INTO items (id, name, qty) VALUES (3, 'three', 3)");
        await Pg.ExecuteAsync(source, "UPDATE items SET qty = 10, name = 'uno' WHERE id = 1");
        await Pg.ExecuteAsync(source, "UPDATE items SET id = 20 WHERE id = 2");
        await Pg.ExecuteAsync(source, "DELETE FROM items WHERE id = 3");
        long xid;
        await using (var conn = await Pg.OpenAsync(source))
        await using (var txn = await conn.BeginTransactionAsync())
        {
            await using var cmd = new Npgsql.NpgsqlCommand("""
                INSERT INTO geo.cities (name, country, population) VALUES ('Oslo', 'NO', 709037), ('Tulsa', 'US', 413066);
                UPDATE geo.cities SET population = NULL WHERE name = 'Tulsa';
                SELECT txid_current() % 4294967296;
                """, conn, txn);
            xid = (long)(await cmd.ExecuteScalarAsync())!;
            await txn.CommitAsync();
        }
        await Pg.ExecuteAsync(source, "TRUNCATE items");
        await rig.SyncAsync();

        // The load opens with a truncate per table that says so.
        var markers = (await ReadAsync(redis.Address, "events", loadMarkers: true)).TakeWhile(e => e.Op == "t").ToList();
        Assert.NotEmpty(markers);
        Assert.All(markers, e => Assert.Contains("\"snapshot\":true", e.Json));
        var entries = await ReadAsync(redis.Address, "events");
        Assert.Equal(entries.Count, Distinct(entries).Count);   // no failure, so no retried batch

        // The initial load: one r entry per row, sharing the load's LSN.
        var loaded = entries.TakeWhile(e => e.Op == "r").ToList();
        Assert.Equal(["1", "2"], loaded.Select(e => e.Key).Order());
        Assert.All(loaded, e => Assert.Equal("public.items", e.Table));
        Assert.Single(loaded.Select(e => e.Lsn).Distinct());

        var changes = entries.Skip(loaded.Count).ToList();
        Assert.Equal(
        [
            ("c", "public.items", "3"), ("u", "public.items", "1"), ("u", "public.items", "20"), ("d", "public.items", "3"),
            ("c", "geo.cities", "NO/Oslo"), ("c", "geo.cities", "US/Tulsa"), ("u", "geo.cities", "US/Tulsa"), ("t", "public.items", ""),
        ], changes.Select(e => (e.Op, e.Table, e.Key)));
        AssertCommitOrder(changes);
        Assert.True(loaded[0].Lsn < changes[0].Lsn);

        // The fields repeat the document, which carries before, after, lsn and xid.
        foreach (var e in entries)
        {
            Assert.Equal(e.Id, e.Event.GetProperty("id").GetString());
            Assert.Equal(e.Op, e.Event.GetProperty("op").GetString());
            Assert.Equal(e.Table, e.Event.GetProperty("schema").GetString() + "." + e.Event.GetProperty("table").GetString());
            Assert.Equal(e.Id[..e.Id.IndexOf(':')], e.Event.GetProperty("lsn").GetString());
            Assert.True(e.Event.GetProperty("xid").GetUInt32() > 0 || e.Op == "r");
            if (e.Op != "t") Assert.Equal(e.Key, e.Event.GetProperty("key").GetString());
        }
        var insert = changes[0].Event;
        Assert.Equal(JsonValueKind.Null, insert.GetProperty("before").ValueKind);
        Assert.Equal("""{"id":3,"name":"three","qty":3,"price":null,"tags":null,"meta":null,"active":null,"seen":null}""",
            insert.GetProperty("after").GetRawText());
        var update = changes[1].Event;
        Assert.Equal("""{"id":1,"name":"one","qty":1,"price":null,"tags":null,"meta":null,"active":null,"seen":null}""",
            update.GetProperty("before").GetRawText());
        Assert.Equal("""{"id":1,"name":"uno","qty":10,"price":null,"tags":null,"meta":null,"active":null,"seen":null}""",
            update.GetProperty("after").GetRawText());
        var keyChange = changes[2].Event;
        Assert.Equal(2, keyChange.GetProperty("before").GetProperty("id").GetInt32());
        Assert.Equal(20, keyChange.GetProperty("after").GetProperty("id").GetInt32());
        var delete = changes[3].Event;
        Assert.Equal(3, delete.GetProperty("before").GetProperty("id").GetInt32());
        Assert.Equal(JsonValueKind.Null, delete.GetProperty("after").ValueKind);
        // One source transaction: one LSN and xid, indexes in statement order.
        var cities = changes.GetRange(4, 3);
        Assert.Single(cities.Select(e => e.Lsn).Distinct());
        Assert.All(cities, e => Assert.Equal(xid, e.Event.GetProperty("xid").GetInt64()));
        Assert.Equal(JsonValueKind.Null, changes[6].Event.GetProperty("after").GetProperty("population").ValueKind);
        var truncate = changes[7].Event;
        Assert.False(truncate.TryGetProperty("before", out _));
        Assert.Equal("items", truncate.GetProperty("table").GetString());
    }

    [Fact]
    public async Task Approximate_maxlen_trimming_bounds_the_stream_and_keeps_the_newest_entries()
    {
        var source = await NewSourceAsync();
        await using var redis = await RedisServerProcess.StartAsync();
        await using var rig = StartStream(source, redis.Address, "recent", """, "max-length": 100""");
        await rig.SyncAsync();
        // 2000 events in 40 transactions: twenty times the cap.
        for (int t = 0; t < 40; t++)
            await Pg.ExecuteAsync(source, $"INSERT INTO items (id, name, qty) SELECT i, 'n' || i, i FROM generate_series({t * 50 + 1}, {t * 50 + 50}) i");
        await rig.SyncAsync();

        // MAXLEN ~ removes whole stream nodes only (stream-node-max-entries, 100 by default): never fewer entries than the
        // cap, and less than a node more.
        long length = await LengthAsync(redis.Address, "recent");
        Assert.InRange(length, 100, 100 + 100 - 1);
        var entries = await ReadAsync(redis.Address, "recent");
        var tail = entries.Select(e => int.Parse(e.Key)).ToList();
        Assert.Equal(Enumerable.Range(2001 - tail.Count, tail.Count), tail);   // the newest, contiguous, in order
        Assert.True(rig.Sinks.Runners[0].Status.EventsDelivered >= 2000);
    }

    [Fact]
    public async Task Rules_filter_transform_and_route_what_reaches_the_stream()
    {
        var source = await NewSourceAsync("INSERT INTO items (id, name, qty, price) VALUES (1, 'Alpha', 1, 1), (2, 'Bravo', 20, 2);");
        await using var redis = await RedisServerProcess.StartAsync();
        await using var rig = StartStream(source, redis.Address, "filtered", rules: """
            [
              { "table": "items", "filter": [ { "column": "qty", "op": "gte", "value": 10 } ],
                "transform": [ { "column": "name", "type": "mask", "keep-first": 1 }, { "column": "price", "type": "drop" },
                               { "column": "meta", "type": "drop" }, { "column": "seen", "type": "drop" } ],
                "route": { "table": "goods", "columns": { "qty": "quantity" } } },
              { "table": "geo.*", "filter": [ { "column": "country", "op": "eq", "value": "NO" } ] }
            ]
            """);
        await rig.SyncAsync();
        await Pg.ExecuteAsync(source, """
            INSERT INTO items (id, name, qty, price) VALUES (3, 'Charlie', 5, 3), (4, 'Delta', 40, 4);
            UPDATE items SET qty = 30 WHERE id = 3;
            INSERT INTO geo.cities (name, country, population) VALUES ('Oslo', 'NO', 709037), ('Tulsa', 'US', 413066);
            DELETE FROM geo.cities;
            """);
        await rig.SyncAsync();

        var entries = await ReadAsync(redis.Address, "filtered");
        // Item 3 was filtered out when inserted: the update that brings it into the filtered set arrives as its insert.
        Assert.Equal([("r", "public.goods", "2"), ("c", "public.goods", "4"), ("c", "public.goods", "3"),
            ("c", "geo.cities", "NO/Oslo"), ("d", "geo.cities", "NO/Oslo")],
            entries.Select(e => (e.Op, e.Table, e.Key)));
        Assert.Equal("""{"id":4,"name":"D****","quantity":40,"tags":null,"active":null}""", entries[1].Event.GetProperty("after").GetRawText());
        Assert.Equal("""{"id":3,"name":"C******","quantity":30,"tags":null,"active":null}""", entries[2].Event.GetProperty("after").GetRawText());
        Assert.Equal(JsonValueKind.Null, entries[2].Event.GetProperty("before").ValueKind);
    }

    [Fact]
    public async Task A_crashed_then_restarted_or_unreachable_redis_gets_every_event_after_retries()
    {
        var source = await NewSourceAsync();
        var data = Directory.CreateTempSubdirectory("pgrelay-redis-aof").FullName;
        // Every acknowledged XADD is on disk before the reply, so a SIGKILL loses only what the sink was not told was written.
        string[] durable = ["--appendonly", "yes", "--appendfsync", "always", "--dir", data];
        var redis = await RedisServerProcess.StartAsync(null, durable);
        int port = redis.Port;
        try
        {
            await using var rig = StartStream(source, redis.Address, "events");
            var runner = rig.Sinks.Runners[0];
            await rig.SyncAsync();
            await using var conn = await Pg.OpenAsync(source);
            async Task InsertAsync(int from, int to)
            {
                for (int i = from; i < to; i++)
                {
                    await using var cmd = new Npgsql.NpgsqlCommand($"INSERT INTO items (id, name, qty) VALUES ({i}, 'n{i}', {i}); UPDATE items SET qty = -qty WHERE id = {i}", conn);
                    await cmd.ExecuteNonQueryAsync();
                }
            }

            // A crash in the middle of a load: the sink is somewhere inside the first 300 transactions.
            var load = InsertAsync(1, 301);
            await PostgresHarness.WaitUntilAsync(() => runner.Status.EventsDelivered >= 100, ReplicationRun.DefaultTimeout, "the first deliveries");
            await redis.DisposeAsync();
            await load;
            await InsertAsync(301, 401);
            long failures = runner.Status.Failures;
            await PostgresHarness.WaitUntilAsync(() => runner.Status.Failures >= failures + 3, ReplicationRun.DefaultTimeout, "retries against the dead server");
            redis = await RedisServerProcess.StartAsync(port, durable);
            await rig.SyncAsync();

            // Unreachable for a while: the server holds the connection but answers nothing, so the delivery times out.
            redis.Pause();
            try
            {
                failures = runner.Status.Failures;
                await InsertAsync(401, 451);
                await PostgresHarness.WaitUntilAsync(() => runner.Status.Failures > failures, ReplicationRun.DefaultTimeout, "a timed-out delivery");
            }
            finally { redis.Resume(); }
            await InsertAsync(451, 501);
            await rig.SyncAsync();

            var entries = await ReadAsync(redis.Address, "events");
            var distinct = Distinct(entries);
            // Every change once at least, in commit order: c then u for every row, rows in insert order.
            Assert.Equal(Enumerable.Range(1, 500).SelectMany(i => new[] { ("c", i.ToString()), ("u", i.ToString()) }),
                distinct.Select(e => (e.Op, e.Key)));
            AssertCommitOrder(distinct);
            Assert.Contains(rig.Log.Lines, l => l.Contains("delivery failed") && l.Contains("retry"));
            Assert.Equal(0, runner.Status.ConsecutiveFailures);
        }
        finally
        {
            await redis.DisposeAsync();
            Directory.Delete(data, recursive: true);
        }
    }
}
