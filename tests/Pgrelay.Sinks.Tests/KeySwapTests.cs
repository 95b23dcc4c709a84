using System.Text.Json;
using Pgrelay.Sinks.Configuration;
using Pgrelay.Testing;
using StackExchange.Redis;

namespace Pgrelay.Sinks.Tests;

/// <summary>
/// Rows exchanging primary keys in one transaction (a DEFERRABLE key lets two rows share one until commit): every sink
/// must end exact, live and when the transaction is replayed after a restart (its FULL old rows then are all the sinks
/// know). The postgres target's own key is not deferrable; the document sinks are checked by applying their events in
/// order (the redis-stream sink sends the same JSON documents as the file sink).
/// </summary>
public abstract class KeySwapTests(PostgresFixture pg) : IDisposable
{
    public sealed class PG14(Postgres14Fixture pg) : KeySwapTests(pg), IClassFixture<Postgres14Fixture>;
    public sealed class PG15(PostgresFixture pg) : KeySwapTests(pg), IClassFixture<PostgresFixture>;
    public sealed class PG16(Postgres16Fixture pg) : KeySwapTests(pg), IClassFixture<Postgres16Fixture>;
    public sealed class PG17(Postgres17Fixture pg) : KeySwapTests(pg), IClassFixture<Postgres17Fixture>;
    public sealed class PG18(Postgres18Fixture pg) : KeySwapTests(pg), IClassFixture<Postgres18Fixture>;

    private readonly string _state = Directory.CreateTempSubdirectory("pgrelay-keyswap").FullName;

    private const string Schema = """
        CREATE TABLE t (id int PRIMARY KEY DEFERRABLE INITIALLY DEFERRED, v text);
        ALTER TABLE t REPLICA IDENTITY FULL;
        CREATE TABLE ids (id int PRIMARY KEY DEFERRABLE INITIALLY DEFERRED);
        ALTER TABLE ids REPLICA IDENTITY FULL;
        CREATE TABLE sync_marker (id int PRIMARY KEY);
        CREATE PUBLICATION pub FOR TABLE t, ids, sync_marker;
        INSERT INTO t SELECT i, 'v' || i FROM generate_series(1, 30) i;
        INSERT INTO ids SELECT generate_series(1, 10);
        """;

    /// <summary>Key moves onto keys that are still held, in every order PostgreSQL may visit the rows.</summary>
    /// <param name="identical">Also swap rows equal in every column: live only, since a replay cannot tell which of two
    /// identical rows an old row names (docs/sinks.md).</param>
    private static string Moves(int at, bool identical) => $"""
        UPDATE t SET id = {2 * at + 1} - id WHERE id IN ({at}, {at + 1});                        -- a swap
        BEGIN; UPDATE t SET id = id + 1 WHERE id BETWEEN {at + 2} AND {at + 4};                  -- a rotation in two statements
               UPDATE t SET id = {at + 2} WHERE id = {at + 5} AND v = 'v{at + 5}'; COMMIT;
        UPDATE t SET id = CASE WHEN id = {at + 8} THEN {at + 6} ELSE id + 1 END, v = v || '+'  -- a rotation in one
          WHERE id BETWEEN {at + 6} AND {at + 8};
        BEGIN; INSERT INTO t VALUES ({at + 9}, 'newcomer'); DELETE FROM t WHERE id = {at + 9} AND v <> 'newcomer'; COMMIT;
        """ + (identical ? "UPDATE ids SET id = 3 - id WHERE id IN (1, 2);" : "");

    [Fact]
    public async Task Rows_exchanging_keys_in_one_transaction_end_exact_in_every_sink_live_and_replayed()
    {
        var source = await pg.NewDatabaseAsync("src");
        var target = await pg.NewDatabaseAsync("dst");
        await pg.ExecuteAsync(source, Schema);
        await using var redis = await RedisServerProcess.StartAsync();
        var jsonl = Path.Combine(_state, "events.jsonl");
        var config = Path.Combine(_state, "pgrelay.json");
        File.WriteAllText(config, $$"""
            {
              "sinks": {
                "pg":  { "type": "postgres", "url": "{{pg.Cluster.UrlFor(target)}}" },
                "rh":  { "type": "redis-hash", "address": "{{redis.Address}}" },
                "log": { "type": "file", "path": "{{jsonl}}" }
              }
            }
            """);

        await using (var rig = SinkRig.Start(pg, source, SinkSettingsParser.Parse(null, config, _state)))
        {
            await rig.SyncAsync();
            await pg.ExecuteAsync(source, Moves(1, identical: true));
            await rig.SyncAsync();
            await AssertExactAsync(source, target, redis.Address, jsonl, "live");
        }
        // While pgrelay is down: the restarted instance replays these from the kept slot.
        await pg.ExecuteAsync(source, Moves(11, identical: false));
        await using (var rig = SinkRig.Start(pg, source, SinkSettingsParser.Parse(null, config, _state)))
        {
            await rig.SyncAsync();
            Assert.All(rig.Sinks.Runners, r => Assert.Equal(0, r.Status.RowsLoaded));   // replayed, not reloaded
            await AssertExactAsync(source, target, redis.Address, jsonl, "replayed");
        }
    }

    private async Task AssertExactAsync(string source, string target, string redis, string jsonl, string when)
    {
        var t = await pg.RowsAsync(source, "t", "id");
        var ids = await pg.RowsAsync(source, "ids", "id");
        Assert.Equal(t, await pg.RowsAsync(target, "public.t", "id"));
        Assert.Equal(ids, await pg.RowsAsync(target, "public.ids", "id"));
        var expectedHashes = new SortedDictionary<string, string>(StringComparer.Ordinal);
        await using (var conn = await pg.OpenAsync(source))
        await using (var cmd = new Npgsql.NpgsqlCommand("SELECT 't', id, coalesce('v=' || v, '') FROM t UNION ALL SELECT 'ids', id, '' FROM ids", conn))
        await using (var reader = await cmd.ExecuteReaderAsync())
            while (await reader.ReadAsync())
                expectedHashes[$"pub.{reader.GetString(0)}.{reader.GetInt32(1)}"] =
                    string.Join(";", new[] { $"id={reader.GetInt32(1)}", reader.GetString(2) }.Where(f => f != "").Order(StringComparer.Ordinal));
        Assert.Equal(expectedHashes, await HashesAsync(redis));

        // The documents applied in order: a key's row is replaced by inserts and updates, an update's old key goes.
        var model = new Dictionary<string, SortedDictionary<int, string>> { ["t"] = [], ["ids"] = [] };
        foreach (var line in File.ReadLines(jsonl))
        {
            var e = JsonDocument.Parse(line).RootElement;
            if (e.GetProperty("table").GetString() is not { } table || !model.TryGetValue(table, out var rows)) continue;
            switch (e.GetProperty("op").GetString())
            {
                case "t":
                    rows.Clear();
                    break;
                case "d":
                    rows.Remove(e.GetProperty("before").GetProperty("id").GetInt32());
                    break;
                case "c" or "r" or "u":
                    if (e.GetProperty("before") is { ValueKind: JsonValueKind.Object } before) rows.Remove(before.GetProperty("id").GetInt32());
                    var after = e.GetProperty("after");
                    int id = after.GetProperty("id").GetInt32();
                    rows[id] = after.TryGetProperty("v", out var v) ? $"({id},{v.GetString()})" : $"({id})";
                    break;
            }
        }
        Assert.True(t.SequenceEqual(model["t"].Values), $"{when}: the file sink's events end with\n{string.Join(" ", model["t"].Values)}\nnot\n{string.Join(" ", t)}");
        Assert.True(ids.SequenceEqual(model["ids"].Values), $"{when}: the file sink's events end with {string.Join(" ", model["ids"].Values)}, not {string.Join(" ", ids)}");
    }

    private static async Task<SortedDictionary<string, string>> HashesAsync(string address)
    {
        var hashes = new SortedDictionary<string, string>(StringComparer.Ordinal);
        await using var redis = await ConnectionMultiplexer.ConnectAsync(address);
        var db = redis.GetDatabase();
        foreach (var pattern in new[] { "pub.t.*", "pub.ids.*" })
            await foreach (var key in redis.GetServers()[0].KeysAsync(pattern: pattern, pageSize: 1000))
                hashes[key!] = string.Join(";", (await db.HashGetAllAsync(key)).Select(e => $"{e.Name}={e.Value}").Order(StringComparer.Ordinal));
        return hashes;
    }

    public void Dispose() => Directory.Delete(_state, recursive: true);
}
