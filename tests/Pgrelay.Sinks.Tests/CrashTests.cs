using Pgrelay.Testing;

namespace Pgrelay.Sinks.Tests;

/// <summary>At-least-once across a crash: pgrelay is killed with SIGKILL in the middle of a load and started again.</summary>
public abstract class CrashTests(PostgresFixture pg) : CrashTestBase(pg)
{
    public sealed class PG14(Postgres14Fixture pg) : CrashTests(pg), IClassFixture<Postgres14Fixture>;
    public sealed class PG15(PostgresFixture pg) : CrashTests(pg), IClassFixture<PostgresFixture>;
    public sealed class PG16(Postgres16Fixture pg) : CrashTests(pg), IClassFixture<Postgres16Fixture>;
    public sealed class PG17(Postgres17Fixture pg) : CrashTests(pg), IClassFixture<Postgres17Fixture>;
    public sealed class PG18(Postgres18Fixture pg) : CrashTests(pg), IClassFixture<Postgres18Fixture>;

    [Fact]
    public async Task Kill_9_in_the_middle_of_a_load_then_restart_leaves_the_target_equal_to_the_source()
    {
        var source = await Pg.NewDatabaseAsync("src");
        var target = await Pg.NewDatabaseAsync("dst");
        await Pg.ExecuteAsync(source, """
            CREATE TABLE items (id bigint PRIMARY KEY, v int NOT NULL, note text);
            CREATE TABLE sync_marker (id int PRIMARY KEY);
            CREATE PUBLICATION pub FOR TABLE items, sync_marker;
            INSERT INTO items SELECT i, 0, 'seed' FROM generate_series(1, 2000) i;
            """);
        string[] args =
        [
            "run", "--source", Pg.Cluster.UrlFor(source), "--publication", "pub", "--sink", $"postgres:{Pg.Cluster.UrlFor(target)}",
            "--state-dir", State, "--cache-servers", "off", "--http", $"127.0.0.1:{FreeTcpPort.Next()}", "--heartbeat", "1s", "--log-level", "Debug",
        ];

        // A bounded load of 1500 small transactions of inserts, updates and deletes: 700 before the kill, 800 after it.
        await using var conn = await Pg.OpenAsync(source);
        async Task LoadAsync(int from, int to)
        {
            for (int t = from; t < to; t++)
            {
                await using var cmd = new Npgsql.NpgsqlCommand($"""
                    BEGIN;
                    INSERT INTO items VALUES ({10_000 + t}, {t}, 'new');
                    UPDATE items SET v = v + 1, note = 'upd {t}' WHERE id % 97 = {t % 97};
                    DELETE FROM items WHERE id = {1 + t};
                    COMMIT;
                    """, conn);
                await cmd.ExecuteNonQueryAsync();
            }
        }

        var first = PgrelayProcess.Start(args);
        string firstOutput;
        try
        {
            await LoadAsync(0, 700);
            // Killed once it is streaming the load: the sink is then somewhere in the middle of the 700 transactions.
            await WaitForTargetRowsAsync(target, first);
        }
        finally
        {
            first.Kill9();
            firstOutput = first.Output;
        }
        var afterKill = LoadAsync(700, 1500);
        await using var second = PgrelayProcess.Start(args);
        await afterKill;

        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(3);
        List<string> expected, actual = [];
        do
        {
            Assert.False(second.HasExited, second.Output);
            await Task.Delay(200);
            expected = await Pg.RowsAsync(source, "items", "id");
            try { actual = await Pg.RowsAsync(target, "public.items", "id"); }
            catch (Npgsql.PostgresException) { actual = []; }
            if (DateTime.UtcNow > deadline)
                Assert.Fail($"the target did not catch up: {actual.Count} rows vs {expected.Count}\n--- first run ---\n{firstOutput}\n--- second run ---\n{second.Output}");
        } while (!expected.SequenceEqual(actual));
        // Usually the restart resumes on the kept slot ("keeping slot" in the log). If the crash fell in the moment between
        // replication confirming an idle server position and the sink recording it, the slot is recreated and the sink
        // reloads instead: slower, but equally complete, which is what this test is about.
    }
}

/// <summary>What the kill -9 suites share: a state directory and the comparisons.</summary>
public abstract class CrashTestBase(PostgresFixture pg) : IDisposable
{
    protected string State { get; } = Directory.CreateTempSubdirectory("pgrelay-crash-state").FullName;
    protected PostgresFixture Pg => pg;

    protected static string Diff(List<string> expected, List<string> actual) =>
        $"{expected.Count} vs {actual.Count} rows, missing [{string.Join(" | ", expected.Except(actual).Take(3).Select(r => r[..Math.Min(60, r.Length)]))}], " +
        $"extra [{string.Join(" | ", actual.Except(expected).Take(3).Select(r => r[..Math.Min(60, r.Length)]))}]";

    protected static string Tail(string output) => string.Join("\n", output.Split('\n').TakeLast(60));

    protected async Task<SortedDictionary<string, string>> ExpectedHashesAsync(string source)
    {
        var expected = new SortedDictionary<string, string>(StringComparer.Ordinal);
        await using var conn = await pg.OpenAsync(source);
        await using var cmd = new Npgsql.NpgsqlCommand("SELECT id::text, v::text, tag, body FROM docs", conn);
        await using var reader = await cmd.ExecuteReaderAsync();
        string[] names = ["id", "v", "tag", "body"];
        while (await reader.ReadAsync())
            expected["pub.docs." + reader.GetString(0)] = string.Join(";",
                names.Select((n, i) => reader.IsDBNull(i) ? null : $"{n}={reader.GetString(i)}").Where(f => f is not null).Order(StringComparer.Ordinal));
        return expected;
    }

    protected static async Task<SortedDictionary<string, string>> HashesAsync(string address)
    {
        var hashes = new SortedDictionary<string, string>(StringComparer.Ordinal);
        await using var redis = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(address);
        var db = redis.GetDatabase();
        await foreach (var key in redis.GetServers()[0].KeysAsync(pattern: "pub.docs.*", pageSize: 1000))
            hashes[key!] = string.Join(";", (await db.HashGetAllAsync(key)).Select(e => $"{e.Name}={e.Value}").Order(StringComparer.Ordinal));
        return hashes;
    }

    protected async Task WaitForTargetRowsAsync(string target, PgrelayProcess process, string sql = "SELECT count(*) FROM items WHERE note <> 'seed'")
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(2);
        while (true)
        {
            Assert.False(process.HasExited, process.Output);
            try
            {
                if (await pg.ScalarAsync<long>(target, sql) > 0) return;
            }
            catch (Npgsql.PostgresException) { }
            if (DateTime.UtcNow > deadline) throw new TimeoutException("the sink did not start delivering\n" + process.Output);
            await Task.Delay(100);
        }
    }

    public void Dispose() => Directory.Delete(State, recursive: true);
}

/// <summary>
/// kill -9 in a random workload (key changes, TOAST, filter moves) against the real pgrelay process. Slow: PostgreSQL 15
/// and 18 only (the kill -9 load test above runs on every version).
/// </summary>
public abstract class CrashWorkloadTests(PostgresFixture pg) : CrashTestBase(pg)
{
    public sealed class PG15(PostgresFixture pg) : CrashWorkloadTests(pg), IClassFixture<PostgresFixture>;
    public sealed class PG18(Postgres18Fixture pg) : CrashWorkloadTests(pg), IClassFixture<Postgres18Fixture>;

    [Theory]
    [InlineData(10)]
    [InlineData(11)]
    public async Task Kill_9_in_a_random_workload_with_key_changes_toast_and_filter_moves_leaves_every_target_equal_to_the_source(int seed)
    {
        // The workload issue 10 saw diverge in 2 runs of 2: after kill -9 and restart, the transactions between the sinks'
        // checkpoints and the new snapshot are replayed with partial images (key changes of rows with unchanged TOAST
        // values, updates without old rows, rows leaving a filter). Every target must still end equal to the source.
        var source = await Pg.NewDatabaseAsync("src");
        var target = await Pg.NewDatabaseAsync("dst");
        var filtered = await Pg.NewDatabaseAsync("dstf");
        await Pg.ExecuteAsync(source, """
            CREATE TABLE docs (id int PRIMARY KEY, v int NOT NULL, tag text, body text);
            ALTER TABLE docs ALTER body SET STORAGE EXTERNAL;
            CREATE PUBLICATION pub FOR TABLE docs;
            INSERT INTO docs SELECT i, i % 1000, 'tag ' || i, repeat(md5(i::text), 120) FROM generate_series(1, 400) i;
            """);
        await using var redis = await RedisServerProcess.StartAsync();
        var config = Path.Combine(State, "pgrelay.json");
        File.WriteAllText(config, $$"""
            {
              "sinks": {
                "pg":  { "type": "postgres", "url": "{{Pg.Cluster.UrlFor(target)}}" },
                "pgf": { "type": "postgres", "url": "{{Pg.Cluster.UrlFor(filtered)}}" },
                "rh":  { "type": "redis-hash", "address": "{{redis.Address}}" }
              },
              "rules": [ { "table": "docs", "sinks": ["pgf"], "filter": [ { "column": "v", "op": "lt", "value": 500 } ] } ]
            }
            """);
        string[] args =
        [
            "run", "--source", Pg.Cluster.UrlFor(source), "--publication", "pub", "--config", config, "--state-dir", State,
            "--cache-servers", "off", "--http", $"127.0.0.1:{FreeTcpPort.Next()}", "--heartbeat", "1s", "--log-level", "Debug",
        ];

        var random = new Random(seed);
        int nextId = 10_000;
        await using var conn = await Pg.OpenAsync(source);
        async Task WorkloadAsync(int transactions)
        {
            for (int t = 0; t < transactions; t++)
            {
                var sql = new System.Text.StringBuilder("BEGIN;");
                for (int n = random.Next(1, 4); n > 0; n--)
                {
                    // Rows picked by position, so the statements find a row whatever earlier ones did.
                    string row = $"(SELECT id FROM docs ORDER BY id OFFSET {random.Next(300)} LIMIT 1)";
                    sql.Append(random.Next(8) switch
                    {
                        0 => $"UPDATE docs SET id = {nextId++} WHERE id = {row};",                       // key change, body unchanged
                        1 => $"UPDATE docs SET id = {nextId++}, v = {random.Next(1000)} WHERE id = {row};", // key change across the filter
                        2 => $"UPDATE docs SET v = {random.Next(1000)} WHERE id = {row};",                  // body unchanged, maybe across the filter
                        3 => $"UPDATE docs SET tag = NULL, body = repeat('{(char)('a' + random.Next(26))}', 3000) WHERE id = {row};",
                        4 => $"DELETE FROM docs WHERE id = {row};",
                        5 => $"INSERT INTO docs VALUES ({nextId++}, {random.Next(1000)}, 'new', repeat('n', 2500));",
                        6 => $"UPDATE docs SET tag = 'tag {t}' WHERE id = {row};",
                        _ => $"UPDATE docs SET id = -id WHERE id = {row}; UPDATE docs SET id = -id WHERE id < 0;", // out and back
                    });
                }
                sql.Append("COMMIT;");
                await using var cmd = new Npgsql.NpgsqlCommand(sql.ToString(), conn);
                await cmd.ExecuteNonQueryAsync();
            }
        }

        var first = PgrelayProcess.Start(args);
        string firstOutput;
        try
        {
            await WaitForTargetRowsAsync(target, first, "SELECT count(*) FROM docs");
            await WorkloadAsync(150);
        }
        finally
        {
            first.Kill9();
            firstOutput = first.Output;
        }
        await WorkloadAsync(100);   // while pgrelay is down: all of it is replayed
        await using var second = PgrelayProcess.Start(args);
        await WorkloadAsync(150);

        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(3);
        while (true)
        {
            Assert.False(second.HasExited, second.Output);
            var expected = await Pg.RowsAsync(source, "docs", "id");
            var expectedFiltered = await Pg.RowsAsync(source, "(SELECT * FROM docs WHERE v < 500)", "id");
            List<string> actual = [], actualFiltered = [];
            try
            {
                actual = await Pg.RowsAsync(target, "public.docs", "id");
                actualFiltered = await Pg.RowsAsync(filtered, "public.docs", "id");
            }
            catch (Npgsql.PostgresException) { }
            var hashes = await HashesAsync(redis.Address);
            var expectedHashes = await ExpectedHashesAsync(source);
            if (expected.SequenceEqual(actual) && expectedFiltered.SequenceEqual(actualFiltered) && expectedHashes.SequenceEqual(hashes)) break;
            if (DateTime.UtcNow > deadline)
                Assert.Fail($"the targets did not reach the source: postgres {Diff(expected, actual)}; filtered {Diff(expectedFiltered, actualFiltered)}; " +
                    $"redis {Diff(expectedHashes.Select(h => h.Key + " " + h.Value).ToList(), hashes.Select(h => h.Key + " " + h.Value).ToList())}" +
                    $"\n--- first run ---\n{Tail(firstOutput)}\n--- second run ---\n{Tail(second.Output)}");
            await Task.Delay(500);
        }
    }
}
