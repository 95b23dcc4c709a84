using System.Text.Json;
using Pgrelay.Sinks.Configuration;
using Pgrelay.Testing;
using StackExchange.Redis;

namespace Pgrelay.Sinks.Tests;

/// <summary>
/// REPLICA IDENTITY USING INDEX on columns other than the primary key: PostgreSQL sends the old identity columns when they
/// change, nothing when they do not, and never the old primary key. Every change must still reach the sinks so that
/// their targets end equal to the source, live and replayed, and a live event's before must be the complete old row.
/// </summary>
public abstract class IdentityIndexTests(PostgresFixture pg) : IDisposable
{
    public sealed class PG14(Postgres14Fixture pg) : IdentityIndexTests(pg), IClassFixture<Postgres14Fixture>;
    public sealed class PG15(PostgresFixture pg) : IdentityIndexTests(pg), IClassFixture<PostgresFixture>;
    public sealed class PG16(Postgres16Fixture pg) : IdentityIndexTests(pg), IClassFixture<Postgres16Fixture>;
    public sealed class PG17(Postgres17Fixture pg) : IdentityIndexTests(pg), IClassFixture<Postgres17Fixture>;
    public sealed class PG18(Postgres18Fixture pg) : IdentityIndexTests(pg), IClassFixture<Postgres18Fixture>;

    private readonly string _state = Directory.CreateTempSubdirectory("pgrelay-identity").FullName;

    private const string Schema = """
        CREATE TABLE t (id int PRIMARY KEY, u int NOT NULL, v text, body text);
        ALTER TABLE t ALTER body SET STORAGE EXTERNAL;
        CREATE UNIQUE INDEX t_u ON t (u);
        ALTER TABLE t REPLICA IDENTITY USING INDEX t_u;
        CREATE TABLE sync_marker (id int PRIMARY KEY);
        CREATE PUBLICATION pub FOR TABLE t, sync_marker;
        INSERT INTO t SELECT i, i, 'v' || i, repeat(chr(65 + i % 26), 3000) FROM generate_series(1, 40) i;
        """;

    private static string Changes(int at) => $"""
        UPDATE t SET u = u + 1000 WHERE id BETWEEN {at} AND {at + 2};          -- the identity moves: old row = old identity
        UPDATE t SET v = 'same identity' WHERE id = {at + 3};                  -- no old row
        UPDATE t SET id = id + 100 WHERE id = {at + 4};                        -- the key moves, the identity stays: no old row
        UPDATE t SET id = id + 100, u = u + 1000 WHERE id = {at + 5};          -- both move
        DELETE FROM t WHERE id = {at + 6};                                     -- old row = identity only
        BEGIN; UPDATE t SET u = -u WHERE id = {at + 7}; UPDATE t SET u = {at + 7} WHERE id = {at + 8};
               UPDATE t SET u = {at + 8}, v = 'swapped' WHERE id = {at + 7}; COMMIT;   -- two rows exchange identities
        """;

    [Fact]
    public async Task Changes_under_an_identity_index_end_exact_in_every_sink_live_and_replayed()
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
            long loaded = File.ReadLines(jsonl).Count();
            await pg.ExecuteAsync(source, Changes(1));
            await rig.SyncAsync();
            await AssertExactAsync(source, target, redis.Address, "live");
            // Live events carry the complete old row, whatever PostgreSQL sent.
            foreach (var line in File.ReadLines(jsonl).Skip((int)loaded))
            {
                var e = JsonDocument.Parse(line).RootElement;
                if (e.GetProperty("table").GetString() != "t" || e.GetProperty("op").GetString() is not ("u" or "d")) continue;
                var before = e.GetProperty("before");
                Assert.True(before.TryGetProperty("id", out _) && before.TryGetProperty("body", out _) && !e.TryGetProperty("partial", out _), line);
            }
        }
        await pg.ExecuteAsync(source, Changes(21));
        await using (var rig = SinkRig.Start(pg, source, SinkSettingsParser.Parse(null, config, _state)))
        {
            await rig.SyncAsync();
            Assert.All(rig.Sinks.Runners, r => Assert.Equal(0, r.Status.RowsLoaded));   // replayed, not reloaded
            await AssertExactAsync(source, target, redis.Address, "replayed");
        }
    }

    private async Task AssertExactAsync(string source, string target, string redis, string when)
    {
        var rows = await pg.RowsAsync(source, "t", "id");
        var mirrored = await pg.RowsAsync(target, "public.t", "id");
        Assert.True(rows.SequenceEqual(mirrored), $"{when}: the postgres target differs: {string.Join(" ", mirrored.Except(rows).Select(r => r[..Math.Min(r.Length, 30)]))}" +
            $" instead of {string.Join(" ", rows.Except(mirrored).Select(r => r[..Math.Min(r.Length, 30)]))}");
        var expected = new SortedDictionary<string, string>(StringComparer.Ordinal);
        await using (var conn = await pg.OpenAsync(source))
        await using (var cmd = new Npgsql.NpgsqlCommand("SELECT id, 'body=' || body || ';id=' || id || ';u=' || u || ';v=' || v FROM t", conn))
        await using (var reader = await cmd.ExecuteReaderAsync())
            while (await reader.ReadAsync()) expected[$"pub.t.{reader.GetInt32(0)}"] = reader.GetString(1);
        var hashes = new SortedDictionary<string, string>(StringComparer.Ordinal);
        await using (var client = await ConnectionMultiplexer.ConnectAsync(redis))
        {
            var db = client.GetDatabase();
            await foreach (var key in client.GetServers()[0].KeysAsync(pattern: "pub.t.*", pageSize: 1000))
                hashes[key!] = string.Join(";", (await db.HashGetAllAsync(key)).Select(e => $"{e.Name}={e.Value}").Order(StringComparer.Ordinal));
        }
        Assert.True(expected.SequenceEqual(hashes), $"{when}: redis-hash holds {string.Join(" ", hashes.Except(expected).Select(h => h.Key + "=" + h.Value[..Math.Min(h.Value.Length, 40)]))}" +
            $" instead of {string.Join(" ", expected.Except(hashes).Select(h => h.Key))}");
    }

    public void Dispose() => Directory.Delete(_state, recursive: true);
}
