using System.Text.Json;
using Pgrelay.Sinks.Configuration;
using Pgrelay.Testing;
using StackExchange.Redis;

namespace Pgrelay.Sinks.Tests;

/// <summary>
/// After a restart, the transactions between the sinks' checkpoints and the store's new snapshot are replayed from the
/// kept slot as PostgreSQL sent them: no old row unless the key changed (then only the key), and no TOAST value an UPDATE
/// left alone. The postgres and redis-hash targets must still end equal to the source, with and without a filter
/// (issue 10 items 10 and 11), and the JSON events must say what they lack (item 16).
/// </summary>
public abstract class ReplayTests(PostgresFixture pg) : IDisposable
{
    public sealed class PG14(Postgres14Fixture pg) : ReplayTests(pg), IClassFixture<Postgres14Fixture>;
    public sealed class PG15(PostgresFixture pg) : ReplayTests(pg), IClassFixture<PostgresFixture>;
    public sealed class PG16(Postgres16Fixture pg) : ReplayTests(pg), IClassFixture<Postgres16Fixture>;
    public sealed class PG17(Postgres17Fixture pg) : ReplayTests(pg), IClassFixture<Postgres17Fixture>;
    public sealed class PG18(Postgres18Fixture pg) : ReplayTests(pg), IClassFixture<Postgres18Fixture>;

    private readonly string _state = Directory.CreateTempSubdirectory("pgrelay-replay").FullName;

    // body is stored out of line (EXTERNAL: no compression), so an UPDATE that leaves it alone sends it as "unchanged".
    private const string Schema = """
        CREATE TABLE docs (id int PRIMARY KEY, v int NOT NULL, tag text, body text);
        ALTER TABLE docs ALTER body SET STORAGE EXTERNAL;
        CREATE TABLE sync_marker (id int PRIMARY KEY);
        CREATE PUBLICATION pub FOR TABLE docs, sync_marker;
        INSERT INTO docs SELECT i, CASE WHEN i > 40 THEN 200 ELSE i END, 'tag ' || i, repeat(chr(65 + i % 26), 4000) || i
          FROM generate_series(1, 45) i;
        """;

    /// <summary>What happens while pgrelay is down; "f" marks what the filtered sinks (v &lt; 100) must get right.</summary>
    private const string WhileDown = """
        UPDATE docs SET id = id + 1000 WHERE id BETWEEN 1 AND 5;                       -- key changes, body unchanged (10)
        UPDATE docs SET v = v + 50 WHERE id BETWEEN 6 AND 10;                           -- body unchanged, same key
        BEGIN; UPDATE docs SET id = 2000 WHERE id = 11; UPDATE docs SET tag = 'twice', id = 2001 WHERE id = 2000; COMMIT;
        UPDATE docs SET tag = NULL WHERE id = 12;
        DELETE FROM docs WHERE id = 13;
        BEGIN; UPDATE docs SET id = -14 WHERE id = 14; UPDATE docs SET id = 14 WHERE id = 15; UPDATE docs SET id = 15 WHERE id = -14; COMMIT;
        INSERT INTO docs VALUES (3000, 1, 'new', repeat('n', 5000));
        UPDATE docs SET id = 3001 WHERE id = 3000;
        UPDATE docs SET v = 500 WHERE id = 20;                                          -- f: out of the filter (11)
        UPDATE docs SET v = 1 WHERE id = 41;                                            -- f: into it, body unchanged
        DELETE FROM docs WHERE id = 22;                                                 -- f: a delete knows only the key
        UPDATE docs SET id = 4200, v = 2 WHERE id = 42;                                 -- f: into it with a new key
        UPDATE docs SET id = 2300, v = 300 WHERE id = 23;                               -- f: out of it with a new key
        UPDATE docs SET id = 2400 WHERE id = 24;                                        -- f: a new key inside it
        UPDATE docs SET v = 3, body = 'short now' WHERE id = 43;                        -- f: into it, every value sent
        """;

    private string Config(string pgTarget, string pgFiltered, string redis, string jsonl) => $$"""
        {
          "sinks": {
            "pg":  { "type": "postgres", "url": "{{pg.Cluster.UrlFor(pgTarget)}}" },
            "pgf": { "type": "postgres", "url": "{{pg.Cluster.UrlFor(pgFiltered)}}" },
            "rh":  { "type": "redis-hash", "address": "{{redis}}" },
            "rhf": { "type": "redis-hash", "address": "{{redis}}", "prefix": "f:" },
            "log": { "type": "file", "path": "{{jsonl}}" }
          },
          "rules": [ { "table": "docs", "sinks": ["pgf", "rhf"], "filter": [ { "column": "v", "op": "lt", "value": 100 } ] } ]
        }
        """;

    [Fact]
    public async Task Replayed_key_changes_toast_and_filter_moves_leave_postgres_and_redis_targets_equal_to_the_source()
    {
        var source = await pg.NewDatabaseAsync("src");
        var target = await pg.NewDatabaseAsync("dst");
        var filtered = await pg.NewDatabaseAsync("dstf");
        await pg.ExecuteAsync(source, Schema);
        await using var redis = await RedisServerProcess.StartAsync();
        var jsonl = Path.Combine(_state, "events.jsonl");
        var config = Path.Combine(_state, "pgrelay.json");
        File.WriteAllText(config, Config(target, filtered, redis.Address, jsonl));

        await using (var rig = SinkRig.Start(pg, source, SinkSettingsParser.Parse(null, config, _state)))
            await rig.SyncAsync();
        await pg.ExecuteAsync(source, WhileDown);
        // Three transactions (one command is one transaction): into the filter with a new key, then moved on; the values
        // the first lacks are found under the key the row has now.
        await pg.ExecuteAsync(source, "UPDATE docs SET id = 4400, v = 4 WHERE id = 44");
        // A big unpublished transaction in between keeps the server decoding for a while: the first move is delivered
        // while the replay is still arriving, before the row's next move is in the feed (the store has it under 4401).
        await pg.ExecuteAsync(source, "CREATE TABLE filler (i int); INSERT INTO filler SELECT generate_series(1, 1000000)");
        await pg.ExecuteAsync(source, "UPDATE docs SET id = 4401 WHERE id = 4400");
        await pg.ExecuteAsync(source, "UPDATE docs SET tag = 'moved on' WHERE id = 4401");
        long linesBefore = File.ReadLines(jsonl).Count();
        await using (var rig = SinkRig.Start(pg, source, SinkSettingsParser.Parse(null, config, _state)))
        {
            await rig.SyncAsync();
            Assert.All(rig.Sinks.Runners, r => Assert.Equal(0, r.Status.RowsLoaded));   // resumed from the checkpoints: replayed

            Assert.Equal(await pg.RowsAsync(source, "docs", "id"), await pg.RowsAsync(target, "public.docs", "id"));
            Assert.Equal(await pg.RowsAsync(source, "(SELECT * FROM docs WHERE v < 100)", "id"), await pg.RowsAsync(filtered, "public.docs", "id"));
            Assert.Equal(await ExpectedHashesAsync(source, "true"), await HashesAsync(redis.Address, "pub.docs.*"));
            Assert.Equal(await ExpectedHashesAsync(source, "v < 100", "f:"), await HashesAsync(redis.Address, "f:pub.docs.*"));
        }

        // The events say what they lack: replayed, partial, unknown values left out (never null).
        var events = File.ReadLines(jsonl).Skip((int)linesBefore).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        JsonElement Event(string op, string key) => events.First(e => e.GetProperty("op").GetString() == op && e.GetProperty("key").GetString() == key);
        var moved = Event("u", "1001");
        Assert.True(moved.GetProperty("replayed").GetBoolean() && moved.GetProperty("partial").GetBoolean());
        Assert.Equal("""{"id":1}""", moved.GetProperty("before").GetRawText());
        Assert.Equal("""{"id":1001,"v":1,"tag":"tag 1"}""", moved.GetProperty("after").GetRawText());
        var same = Event("u", "6");
        Assert.Equal(JsonValueKind.Null, same.GetProperty("before").ValueKind);
        Assert.True(same.GetProperty("partial").GetBoolean());
        Assert.Equal("""{"id":13}""", Event("d", "13").GetProperty("before").GetRawText());
        var complete = Event("c", "3000");
        Assert.True(complete.GetProperty("replayed").GetBoolean());
        Assert.False(complete.TryGetProperty("partial", out _));
    }

    /// <summary>docs rows as Redis hashes: key -> "field=value;..." (NULL columns left out), sorted.</summary>
    private async Task<SortedDictionary<string, string>> ExpectedHashesAsync(string source, string where, string prefix = "")
    {
        var expected = new SortedDictionary<string, string>(StringComparer.Ordinal);
        await using var conn = await pg.OpenAsync(source);
        await using var cmd = new Npgsql.NpgsqlCommand($"SELECT id::text, v::text, tag, body FROM docs WHERE {where}", conn);
        await using var reader = await cmd.ExecuteReaderAsync();
        string[] names = ["id", "v", "tag", "body"];
        while (await reader.ReadAsync())
            expected[$"{prefix}pub.docs.{reader.GetString(0)}"] = string.Join(";",
                names.Select((n, i) => reader.IsDBNull(i) ? null : $"{n}={reader.GetString(i)}").Where(f => f is not null).Order(StringComparer.Ordinal));
        return expected;
    }

    private static async Task<SortedDictionary<string, string>> HashesAsync(string address, string pattern)
    {
        var hashes = new SortedDictionary<string, string>(StringComparer.Ordinal);
        await using var redis = await ConnectionMultiplexer.ConnectAsync(address);
        var db = redis.GetDatabase();
        await foreach (var key in redis.GetServers()[0].KeysAsync(pattern: pattern, pageSize: 1000))
            hashes[key!] = string.Join(";", (await db.HashGetAllAsync(key)).Select(e => $"{e.Name}={e.Value}").Order(StringComparer.Ordinal));
        return hashes;
    }

    public void Dispose() => Directory.Delete(_state, recursive: true);
}
