using System.Text.Json;
using Pgrelay.Sinks.Configuration;
using Pgrelay.Testing;
using StackExchange.Redis;

namespace Pgrelay.Sinks.Tests;

/// <summary>ALTER TABLE reaches the redis-hash target the way pgrelay's own store takes it (issue 10 item 13).</summary>
public abstract class RedisSchemaChangeTests(PostgresFixture pg) : IDisposable
{
    public sealed class PG14(Postgres14Fixture pg) : RedisSchemaChangeTests(pg), IClassFixture<Postgres14Fixture>;
    public sealed class PG15(PostgresFixture pg) : RedisSchemaChangeTests(pg), IClassFixture<PostgresFixture>;
    public sealed class PG16(Postgres16Fixture pg) : RedisSchemaChangeTests(pg), IClassFixture<Postgres16Fixture>;
    public sealed class PG17(Postgres17Fixture pg) : RedisSchemaChangeTests(pg), IClassFixture<Postgres17Fixture>;
    public sealed class PG18(Postgres18Fixture pg) : RedisSchemaChangeTests(pg), IClassFixture<Postgres18Fixture>;

    private readonly string _state = Directory.CreateTempSubdirectory("pgrelay-redis-ddl").FullName;

    /// <summary>Every row of t as key -> "field=value;..." (NULL columns left out).</summary>
    private async Task<SortedDictionary<string, string>> ExpectedAsync(string source)
    {
        var expected = new SortedDictionary<string, string>(StringComparer.Ordinal);
        await using var conn = await pg.OpenAsync(source);
        await using var cmd = new Npgsql.NpgsqlCommand("SELECT id::text, row_to_json(t)::text FROM t", conn);
        await using var reader = await cmd.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            using var json = JsonDocument.Parse(reader.GetString(1));
            expected["pub.t." + reader.GetString(0)] = string.Join(";", json.RootElement.EnumerateObject()
                .Where(p => p.Value.ValueKind != JsonValueKind.Null)
                .Select(p => $"{p.Name}={(p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString() : p.Value.GetRawText())}")
                .Order(StringComparer.Ordinal));
        }
        return expected;
    }

    private static async Task<SortedDictionary<string, string>> HashesAsync(string address)
    {
        var hashes = new SortedDictionary<string, string>(StringComparer.Ordinal);
        await using var redis = await ConnectionMultiplexer.ConnectAsync(address);
        var db = redis.GetDatabase();
        await foreach (var key in redis.GetServers()[0].KeysAsync(pattern: "pub.t.*"))
            hashes[key!] = string.Join(";", (await db.HashGetAllAsync(key)).Select(e => $"{e.Name}={e.Value}").Order(StringComparer.Ordinal));
        return hashes;
    }

    [Fact]
    public async Task Added_dropped_and_renamed_columns_reach_every_hash()
    {
        var source = await pg.NewDatabaseAsync("src");
        await pg.ExecuteAsync(source, """
            CREATE TABLE t (id int PRIMARY KEY, a text, b int);
            CREATE TABLE sync_marker (id int PRIMARY KEY);
            CREATE PUBLICATION pub FOR TABLE t, sync_marker;
            INSERT INTO t SELECT i, 'a' || i, i FROM generate_series(1, 25) i;
            """);
        await using var redis = await RedisServerProcess.StartAsync();
        await using var rig = SinkRig.Start(pg, source, SinkSettingsParser.Parse([$"redis-hash:{redis.Address}"], null, _state));
        await rig.SyncAsync();
        string[] steps =
        [
            "ALTER TABLE t ADD COLUMN e text DEFAULT 'e''s'; INSERT INTO t (id) VALUES (100)",
            "ALTER TABLE t DROP COLUMN a; UPDATE t SET b = -2 WHERE id = 2; DELETE FROM t WHERE id IN (20, 21)",
            "ALTER TABLE t RENAME COLUMN e TO f; UPDATE t SET f = 'renamed' WHERE id = 3",
        ];
        foreach (var step in steps)
        {
            await pg.ExecuteAsync(source, step);
            await rig.SyncAsync();
            Assert.Equal(await ExpectedAsync(source), await HashesAsync(redis.Address));
        }
    }

    public void Dispose() => Directory.Delete(_state, recursive: true);
}
