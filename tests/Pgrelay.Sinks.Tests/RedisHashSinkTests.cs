using System.Globalization;
using System.Net;
using System.Text;
using Pgrelay.Sinks.Configuration;
using Pgrelay.Testing;
using StackExchange.Redis;

namespace Pgrelay.Sinks.Tests;

/// <summary>
/// What the Redis sink tests share: one published schema, a state directory for checkpoints, a rig started from a
/// config file naming one sink (and rules).
/// </summary>
public abstract class RedisSinkTests(PostgresFixture pg) : IDisposable
{
    private readonly string _state = Directory.CreateTempSubdirectory("pgrelay-redis-sink-state").FullName;

    protected PostgresFixture Pg => pg;

    /// <summary>A source database with the published tables and the given rows. geo.cities has a composite key whose
    /// order (country, name) is not the column order.</summary>
    protected async Task<string> NewSourceAsync(string rows = "")
    {
        var source = await pg.NewDatabaseAsync("src");
        await pg.ExecuteAsync(source, """
            CREATE TABLE items (id int PRIMARY KEY, name text, qty int, price numeric(10,2), tags text[], meta jsonb, active bool, seen timestamptz);
            CREATE SCHEMA geo;
            CREATE TABLE geo.cities (name text, population int, country text, note text, PRIMARY KEY (country, name));
            CREATE TABLE sync_marker (id int PRIMARY KEY);
            CREATE PUBLICATION pub FOR TABLE items, geo.cities, sync_marker;
            """ + rows);
        return source;
    }

    /// <param name="sink">One <c>"name": { ... }</c> member of the config file's sinks.</param>
    private protected SinkRig Start(string source, string sink, string rules = "[]")
    {
        var config = Path.Combine(_state, "pgrelay.json");
        File.WriteAllText(config, $$"""{ "sinks": { {{sink}} }, "rules": {{rules}} }""");
        return SinkRig.Start(pg, source, SinkSettingsParser.Parse(null, config, _state));
    }

    public void Dispose() => Directory.Delete(_state, recursive: true);
}

/// <summary>
/// The redis-hash sink against a real PostgreSQL source and a real redis-server or Redis Cluster: the external Redis
/// must hold exactly the hashes pgrelay serves itself, <c>pub.table.key</c> with a field per non-NULL column in
/// PostgreSQL's text output, compared with the source table through SQL.
/// </summary>
public abstract class RedisHashSinkTests(PostgresFixture pg) : RedisSinkTests(pg)
{
    public sealed class PG14(Postgres14Fixture pg) : RedisHashSinkTests(pg), IClassFixture<Postgres14Fixture>;
    public sealed class PG15(PostgresFixture pg) : RedisHashSinkTests(pg), IClassFixture<PostgresFixture>;
    public sealed class PG16(Postgres16Fixture pg) : RedisHashSinkTests(pg), IClassFixture<Postgres16Fixture>;
    public sealed class PG17(Postgres17Fixture pg) : RedisHashSinkTests(pg), IClassFixture<Postgres17Fixture>;
    public sealed class PG18(Postgres18Fixture pg) : RedisHashSinkTests(pg), IClassFixture<Postgres18Fixture>;

    private const string SeedRows = """
        INSERT INTO items SELECT i, CASE WHEN i % 5 = 0 THEN NULL ELSE 'item ' || i END, i, i * 1.25, ARRAY['a', 'b c'], jsonb_build_object('i', i),
                                 i % 2 = 0, CASE WHEN i % 3 = 0 THEN NULL ELSE '2026-01-01 10:00:00+00'::timestamptz + i * interval '1 minute' END
                          FROM generate_series(1, 300) i;
        INSERT INTO geo.cities SELECT 'city ' || i, i * 1000, CASE WHEN i % 2 = 0 THEN 'NO' ELSE 'SE' END, NULL FROM generate_series(1, 60) i;
        """;

    /// <summary>Each published table: its key part, the SQL of its row key (key order, joined by '/'), its columns.</summary>
    private static readonly (string Table, string KeyName, string RowKey, string[] Columns)[] Published =
    [
        ("items", "items", "id::text", ["id", "name", "qty", "price", "tags", "meta", "active", "seen"]),
        ("geo.cities", "geo.cities", "country || '/' || name", ["name", "population", "country", "note"]),
        ("sync_marker", "sync_marker", "id::text", ["id"]),
    ];

    /// <summary>What the Redis must hold: every source row as key -> (column -> text), NULL columns left out.</summary>
    private async Task<Dictionary<string, SortedDictionary<string, string>>> ExpectedAsync(string source, string prefix)
    {
        var expected = new Dictionary<string, SortedDictionary<string, string>>();
        await using var conn = await Pg.OpenAsync(source);
        foreach (var (table, keyName, rowKey, columns) in Published)
        {
            // format('%s') uses each type's output function (a bool is t/f, where bool::text says true/false).
            var sql = $"SELECT {rowKey}, {string.Join(", ", columns.Select(c => $"CASE WHEN {c} IS NULL THEN NULL ELSE format('%s', {c}) END"))} FROM {table}";
            await using var cmd = new Npgsql.NpgsqlCommand(sql, conn);
            await using var reader = await cmd.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                var fields = new SortedDictionary<string, string>(StringComparer.Ordinal);
                for (int i = 0; i < columns.Length; i++)
                    if (!reader.IsDBNull(i + 1)) fields[columns[i]] = reader.GetString(i + 1);
                expected.Add($"{prefix}pub.{keyName}.{reader.GetString(0)}", fields);
            }
        }
        return expected;
    }

    /// <summary>Every <c>{prefix}pub.*</c> hash on every master, and which node holds it.</summary>
    private static async Task<Dictionary<string, (SortedDictionary<string, string> Fields, EndPoint Node)>> HashesAsync(string address, string prefix)
    {
        var hashes = new Dictionary<string, (SortedDictionary<string, string>, EndPoint)>();
        await using var redis = await ConnectionMultiplexer.ConnectAsync(address);
        var db = redis.GetDatabase();
        foreach (var server in redis.GetServers().Where(s => !s.IsReplica))
            await foreach (var key in server.KeysAsync(pattern: prefix + "pub.*", pageSize: 1000))
            {
                var fields = new SortedDictionary<string, string>(StringComparer.Ordinal);
                foreach (var entry in await db.HashGetAllAsync(key)) fields[entry.Name!] = entry.Value!;
                hashes.Add(key!, (fields, server.EndPoint));
            }
        return hashes;
    }

    /// <summary>The Redis holds exactly the source's rows, and exactly the keys pgrelay's own store serves.</summary>
    private async Task<Dictionary<string, (SortedDictionary<string, string> Fields, EndPoint Node)>> AssertInStepAsync(
        SinkRig rig, string source, string address, string prefix = "")
    {
        var expected = await ExpectedAsync(source, prefix);
        var actual = await HashesAsync(address, prefix);
        var missing = expected.Keys.Except(actual.Keys).Order().Take(10).ToList();
        var extra = actual.Keys.Except(expected.Keys).Order().Take(10).ToList();
        Assert.True(missing.Count == 0 && extra.Count == 0,
            $"{expected.Count} rows in the source, {actual.Count} hashes in Redis; missing: {string.Join(", ", missing)}; extra: {string.Join(", ", extra)}");
        foreach (var (key, fields) in expected)
            Assert.True(fields.SequenceEqual(actual[key].Fields),
                $"{key}: source {Describe(fields)}, Redis {Describe(actual[key].Fields)}");
        // The same keys pgrelay serves itself.
        Assert.Equal(expected.Count, rig.Store.TotalRows);
        foreach (var key in expected.Keys)
            Assert.True(rig.Store.TryGetRow(Encoding.UTF8.GetBytes(key[prefix.Length..]), out _), $"pgrelay's store has no {key}");
        return actual;
    }

    private static string Describe(SortedDictionary<string, string> fields) => "{" + string.Join(", ", fields.Select(f => $"{f.Key}={f.Value}")) + "}";

    /// <summary>
    /// A bounded random workload in <paramref name="transactions"/> transactions: inserts, updates (NULLs, key changes of
    /// simple and composite keys), deletes, a delete and re-insert of one key, and once a truncate followed by inserts.
    /// </summary>
    private async Task WorkloadAsync(string source, int seed, int transactions)
    {
        var random = new Random(seed);
        // Each seed makes its own new keys; the rows it touches are the seeded ones or its own.
        int firstNew = seed * 100_000, nextItem = firstNew, nextCity = firstNew;
        string? Text() => random.Next(6) switch
        {
            0 => null,
            1 => "''",
            2 => "'quote''s \"and\" ðüé/ø'",
            3 => "'star*?[x]\\y'",
            _ => $"'text {random.Next(1000)}'",
        };
        string Or(string value) => random.Next(5) == 0 ? "NULL" : value;
        string ItemValues(int id) =>
            $"{id}, {Text() ?? "NULL"}, {Or(random.Next(-50, 50).ToString())}, {Or((random.Next(0, 1_000_000) / 100m).ToString(CultureInfo.InvariantCulture))}, " +
            $"{Or("ARRAY['x', 'y \"z', NULL]")}, {Or("'{\"k\": [1, 2.50, \"v\"]}'")}, {Or(random.Next(2) == 0 ? "true" : "false")}, " +
            $"{Or($"'2026-03-04 05:06:07.{random.Next(1000, 999999)}+02'")}";
        string City() => $"'city {random.Next(1, 80)}'";

        await using var conn = await Pg.OpenAsync(source);
        for (int t = 0; t < transactions; t++)
        {
            var sql = new StringBuilder("BEGIN;\n");
            if (t == transactions / 2)
                sql.Append($"TRUNCATE items;\nINSERT INTO items VALUES ({ItemValues(nextItem++)}), ({ItemValues(nextItem++)});\n");
            for (int op = random.Next(1, 6); op > 0; op--)
            {
                int item = random.Next(2) == 0 || nextItem == firstNew ? random.Next(1, 301) : random.Next(firstNew, nextItem);
                var oneCity = $"ctid = (SELECT ctid FROM geo.cities WHERE name = {City()} LIMIT 1)";
                sql.Append(random.Next(12) switch
                {
                    0 or 1 => $"INSERT INTO items VALUES ({ItemValues(nextItem++)});",
                    2 or 3 => $"UPDATE items SET name = {Text() ?? "NULL"}, qty = {Or(random.Next(100).ToString())}, active = NOT active, seen = NULL WHERE id = {item};",
                    4 => $"UPDATE items SET id = {nextItem++}, price = {Or("1.5")} WHERE id = {item};",
                    5 => $"DELETE FROM items WHERE id = {item};",
                    6 => $"DELETE FROM items WHERE id = {item}; INSERT INTO items VALUES ({ItemValues(item)});",
                    7 => $"INSERT INTO geo.cities VALUES ('new {nextCity++}', {Or("7")}, {(random.Next(2) == 0 ? "'NO'" : "'DK'")}, {Text() ?? "NULL"});",
                    8 => $"UPDATE geo.cities SET population = {Or(random.Next(100000).ToString())}, note = {Text() ?? "NULL"} WHERE {oneCity};",
                    9 => $"UPDATE geo.cities SET country = 'C{nextCity++}' WHERE {oneCity};",
                    10 => $"DELETE FROM geo.cities WHERE {oneCity};",
                    _ => $"UPDATE items SET meta = {Or("'[]'")}, tags = {Or("'{}'")} WHERE id BETWEEN {item} AND {item + 5};",
                });
                sql.Append('\n');
            }
            sql.Append("COMMIT;");
            await using var cmd = new Npgsql.NpgsqlCommand(sql.ToString(), conn);
            await cmd.ExecuteNonQueryAsync();
        }
    }

    private SinkRig StartHashes(string source, string address, string? prefix = null) =>
        Start(source, $$"""
            "hashes": { "type": "redis-hash", "address": "{{address}}"{{(prefix is null ? "" : $", \"prefix\": \"{prefix}\"")}} }
            """);

    [Fact]
    public async Task The_initial_load_replaces_what_the_redis_held_for_the_published_tables()
    {
        var source = await NewSourceAsync(SeedRows);
        await using var redis = await RedisServerProcess.StartAsync();
        await using (var client = await ConnectionMultiplexer.ConnectAsync(redis.Address))
        {
            var db = client.GetDatabase();
            await db.HashSetAsync("pub.items.1", [new("stale", "field"), new("qty", "-1")]);
            await db.HashSetAsync("pub.items.99999", "id", "99999");
            await db.HashSetAsync("pub.geo.cities.SE/city 1", "population", "0");
            await db.HashSetAsync("pub.geo.cities.gone/city 1", "population", "0");
            await db.StringSetAsync("other:key", "kept");
        }
        await using var rig = StartHashes(source, redis.Address);
        await rig.SyncAsync();
        await AssertInStepAsync(rig, source, redis.Address);
        Assert.InRange(rig.Sinks.Runners[0].Status.RowsLoaded, 360, 361);   // the first sync marker may be in the snapshot
        await using (var client = await ConnectionMultiplexer.ConnectAsync(redis.Address))
            Assert.Equal("kept", await client.GetDatabase().StringGetAsync("other:key"));
    }

    [Fact]
    public async Task Escaped_keys_and_identical_rows_are_mirrored_under_the_keys_pgrelay_serves()
    {
        var source = await Pg.NewDatabaseAsync("src");
        await Pg.ExecuteAsync(source, """
            CREATE TABLE pairs (p text, q text, v int, PRIMARY KEY (p, q));
            CREATE TABLE bag (a int, b text);
            ALTER TABLE bag REPLICA IDENTITY FULL;
            CREATE TABLE sync_marker (id int PRIMARY KEY);
            INSERT INTO pairs VALUES ('x/y', 'z', 1), ('x', 'y/z', 2), ('100%', '', 3);
            INSERT INTO bag VALUES (1, 'x'), (1, 'x'), (1, 'x'), (2, NULL);
            CREATE PUBLICATION pub FOR TABLE pairs, bag, sync_marker;
            """);
        await using var redis = await RedisServerProcess.StartAsync();
        await using var rig = StartHashes(source, redis.Address);
        await rig.SyncAsync();
        await AssertKeysAsync(rig, redis.Address,
            ["pub.bag.1/x", "pub.bag.1/x/2", "pub.bag.1/x/3", "pub.bag.2/%FF", "pub.pairs.100%25/", "pub.pairs.x/y%2Fz", "pub.pairs.x%2Fy/z"]);

        await Pg.ExecuteAsync(source, """
            DELETE FROM pairs WHERE p = 'x/y';
            DELETE FROM bag WHERE ctid = (SELECT min(ctid) FROM bag WHERE a = 1);
            UPDATE bag SET b = 'y' WHERE ctid = (SELECT min(ctid) FROM bag WHERE a = 1);
            INSERT INTO bag VALUES (2, NULL);
            """);
        await rig.SyncAsync();
        await AssertKeysAsync(rig, redis.Address,
            ["pub.bag.1/x", "pub.bag.1/y", "pub.bag.2/%FF", "pub.bag.2/%FF/2", "pub.pairs.100%25/", "pub.pairs.x/y%2Fz"]);
    }

    /// <summary>The Redis holds exactly <paramref name="expected"/> (sync markers aside), each key is one pgrelay serves, and
    /// each hash equals the row pgrelay serves under it.</summary>
    private static async Task AssertKeysAsync(SinkRig rig, string address, string[] expected)
    {
        var hashes = await HashesAsync(address, "");
        Assert.Equal(expected.Order(StringComparer.Ordinal), hashes.Keys.Where(k => !k.StartsWith("pub.sync_marker.")).Order(StringComparer.Ordinal));
        foreach (var key in expected)
        {
            Assert.True(rig.Store.TryGetRow(Encoding.UTF8.GetBytes(key), out var row), $"pgrelay's store has no {key}");
            var served = new SortedDictionary<string, string>(StringComparer.Ordinal);
            for (int c = 0; c < row.Schema.Columns.Count; c++)
                if (!row.View.IsNull(c)) served[row.Schema.Columns[c].Name] = Encoding.UTF8.GetString(row.View.Value(c));
            Assert.Equal(served, hashes[key].Fields);
        }
    }

    [Fact]
    public async Task A_random_workload_leaves_the_redis_equal_to_the_source_across_a_restart()
    {
        var source = await NewSourceAsync(SeedRows);
        await using var redis = await RedisServerProcess.StartAsync();
        await using (var rig = StartHashes(source, redis.Address))
        {
            await rig.SyncAsync();
            await WorkloadAsync(source, seed: 1, transactions: 150);
            await rig.SyncAsync();
            await AssertInStepAsync(rig, source, redis.Address);
        }
        // While pgrelay is down the source moves on; the sink resumes from its checkpoint on the kept slot.
        await WorkloadAsync(source, seed: 2, transactions: 40);
        await using (var rig = StartHashes(source, redis.Address))
        {
            await rig.SyncAsync();
            Assert.Equal(0, rig.Sinks.Runners[0].Status.RowsLoaded);
            await WorkloadAsync(source, seed: 3, transactions: 40);
            await rig.SyncAsync();
            await AssertInStepAsync(rig, source, redis.Address);
        }
    }

    [Fact]
    public async Task A_redis_cluster_is_kept_in_step_across_its_nodes_and_truncate_clears_every_node()
    {
        var source = await NewSourceAsync(SeedRows);
        await using var cluster = await RedisClusterProcess.StartAsync();
        await using var rig = StartHashes(source, cluster.Address, prefix: "mirror:");
        await rig.SyncAsync();
        var loaded = await AssertInStepAsync(rig, source, cluster.Address, "mirror:");
        // Keys hash to slots all over the cluster: every master holds some of each table.
        foreach (var table in new[] { "mirror:pub.items.", "mirror:pub.geo.cities." })
            Assert.Equal(3, loaded.Where(h => h.Key.StartsWith(table)).Select(h => h.Value.Node).Distinct().Count());

        await WorkloadAsync(source, seed: 4, transactions: 80);
        await rig.SyncAsync();
        await AssertInStepAsync(rig, source, cluster.Address, "mirror:");

        await Pg.ExecuteAsync(source, "TRUNCATE items, geo.cities");
        await rig.SyncAsync();
        var left = await AssertInStepAsync(rig, source, cluster.Address, "mirror:");
        Assert.All(left.Keys, k => Assert.StartsWith("mirror:pub.sync_marker.", k));

        await Pg.ExecuteAsync(source, "INSERT INTO geo.cities VALUES ('Oslo', 1, 'NO', NULL), ('Bergen', NULL, 'NO', 'wet')");
        await rig.SyncAsync();
        await AssertInStepAsync(rig, source, cluster.Address, "mirror:");
    }

    [Fact]
    public async Task A_truncate_while_a_cluster_master_is_down_waits_for_it_and_clears_its_keys_too()
    {
        var source = await NewSourceAsync(SeedRows);
        await using var cluster = await RedisClusterProcess.StartAsync();
        await using var rig = StartHashes(source, cluster.Address);
        var runner = rig.Sinks.Runners[0];
        await rig.SyncAsync();
        await AssertInStepAsync(rig, source, cluster.Address);

        // The killed master keeps its keys on disk; a truncate that skipped it would see them come back with it.
        await cluster.KillNodeAsync(2);
        long failures = runner.Status.Failures;
        await Pg.ExecuteAsync(source, "TRUNCATE items");
        await rig.Replication.WaitAsync(() => !rig.Store.TryGetRow("pub.items.1"u8, out _), "the truncate in pgrelay's store");
        var truncated = rig.Store.AppliedEndLsn;
        await PostgresHarness.WaitUntilAsync(() => runner.Status.Failures >= failures + 3 || runner.Status.CheckpointLsn >= truncated,
            ReplicationRun.DefaultTimeout, "the truncate to be retried while a master is down");
        Assert.True(runner.Status.CheckpointLsn < truncated, "checkpointed a truncate that a master has not seen");
        await cluster.RestartNodeAsync(2);
        await rig.SyncAsync();
        var left = await AssertInStepAsync(rig, source, cluster.Address);
        Assert.DoesNotContain(left.Keys, k => k.StartsWith("pub.items."));
        Assert.Contains(left.Keys, k => k.StartsWith("pub.geo.cities."));
    }
}
