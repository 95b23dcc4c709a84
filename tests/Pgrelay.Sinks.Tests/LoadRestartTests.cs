using System.Text.Json;
using Pgrelay.Testing;

namespace Pgrelay.Sinks.Tests;

/// <summary>
/// kill -9 during the sinks' initial load, rows deleted and changed while pgrelay is down, then a restart: the load is done
/// again. Documents are appended, so the file sink must mark where the new load begins, or a consumer replaying the file
/// keeps the rows deleted in between; the mirrors (postgres, redis-hash) must replace, not add to, what the first load left.
/// Kill -9 runs are slow: PostgreSQL 15 and 18 only.
/// </summary>
public abstract class LoadRestartTests(PostgresFixture pg) : IDisposable
{
    public sealed class PG15(PostgresFixture pg) : LoadRestartTests(pg), IClassFixture<PostgresFixture>;
    public sealed class PG18(Postgres18Fixture pg) : LoadRestartTests(pg), IClassFixture<Postgres18Fixture>;

    private const int Rows = 20_000;
    private readonly string _state = Directory.CreateTempSubdirectory("pgrelay-load-restart").FullName;

    [Fact]
    public async Task Kill_9_during_the_initial_load_then_restart_every_sink_ends_equal_to_the_source_and_the_file_replays_to_it()
    {
        var source = await pg.NewDatabaseAsync("src");
        var target = await pg.NewDatabaseAsync("dst");
        await pg.ExecuteAsync(source, $"""
            CREATE TABLE items (id int PRIMARY KEY, v int NOT NULL, note text);
            CREATE PUBLICATION pub FOR TABLE items;
            INSERT INTO items SELECT i, i, 'seed ' || i FROM generate_series(1, {Rows}) i;
            """);
        await using var redis = await RedisServerProcess.StartAsync();
        var file = Path.Combine(_state, "events.jsonl");
        var config = Path.Combine(_state, "pgrelay.json");
        // Small batches: the file sink fsyncs each one, so its load lasts long enough to be killed in the middle.
        File.WriteAllText(config, $$"""
            {
              "sinks": {
                "file": { "type": "file", "path": "{{file}}", "batch-size": 10 },
                "pg":   { "type": "postgres", "url": "{{pg.Cluster.UrlFor(target)}}", "batch-size": 50 },
                "rh":   { "type": "redis-hash", "address": "{{redis.Address}}", "batch-size": 50 }
              }
            }
            """);
        string[] args =
        [
            "run", "--source", pg.Cluster.UrlFor(source), "--publication", "pub", "--config", config, "--state-dir", _state,
            "--cache-servers", "off", "--http", $"127.0.0.1:{FreeTcpPort.Next()}", "--heartbeat", "1s", "--log-level", "Debug",
        ];

        var first = PgrelayProcess.Start(args);
        string firstOutput;
        try
        {
            var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(2);
            while (ReadLines(file).Count(l => l.Contains("\"op\":\"r\"")) < 100)
            {
                Assert.False(first.HasExited, first.Output);
                if (DateTime.UtcNow > deadline) throw new TimeoutException("the file sink did not start its load\n" + first.Output);
                await Task.Delay(20);
            }
        }
        finally
        {
            first.Kill9();
            firstOutput = first.Output;
        }
        int loadedBeforeKill = ReadLines(file).Count(l => l.Contains("\"op\":\"r\""));
        Assert.True(loadedBeforeKill < Rows, $"the load ended before the kill ({loadedBeforeKill} rows): nothing was tested");

        // While pgrelay is down: rows of both halves deleted, changed and added.
        await pg.ExecuteAsync(source, """
            DELETE FROM items WHERE id % 3 = 0;
            UPDATE items SET v = -v, note = NULL WHERE id % 5 = 0;
            INSERT INTO items SELECT i, i, 'down' FROM generate_series(30001, 30100) i;
            """);
        await using var second = PgrelayProcess.Start(args);
        await pg.ExecuteAsync(source, "DELETE FROM items WHERE id % 7 = 0; INSERT INTO items VALUES (40000, 1, 'after')");

        var finalDeadline = DateTime.UtcNow + TimeSpan.FromMinutes(3);
        while (true)
        {
            Assert.False(second.HasExited, second.Output);
            var expected = await ExpectedAsync(source);
            var replayed = Replay(ReadLines(file));
            List<string> mirrored = [];
            try { mirrored = (await pg.RowsAsync(target, "public.items", "id")).Select(r => r.Trim('(', ')')).ToList(); }
            catch (Npgsql.PostgresException) { }
            var expectedMirror = (await pg.RowsAsync(source, "items", "id")).Select(r => r.Trim('(', ')')).ToList();
            var hashes = await HashesAsync(redis.Address);
            if (expected.SetEquals(replayed) && expectedMirror.SequenceEqual(mirrored) && expected.SetEquals(hashes)) break;
            if (DateTime.UtcNow > finalDeadline)
                Assert.Fail($"file replay: {expected.Count} rows expected, {replayed.Count} replayed, extra [{string.Join(" ", replayed.Except(expected).Take(5))}], " +
                    $"missing [{string.Join(" ", expected.Except(replayed).Take(5))}]; postgres {mirrored.Count} vs {expectedMirror.Count}; " +
                    $"redis-hash {hashes.Count} vs {expected.Count}\n--- first run ---\n{Tail(firstOutput)}\n--- second run ---\n{Tail(second.Output)}");
            await Task.Delay(500);
        }
        // Every load opened with a truncate that says so.
        Assert.True(ReadLines(file).Count(l => l.Contains("\"op\":\"t\"") && l.Contains("\"snapshot\":true")) >= 2);
    }

    /// <summary>Rows as "id|v|note" (note "null" when NULL).</summary>
    private async Task<HashSet<string>> ExpectedAsync(string source)
    {
        var rows = new HashSet<string>();
        await using var conn = await pg.OpenAsync(source);
        await using var cmd = new Npgsql.NpgsqlCommand("SELECT id, v, note FROM items", conn);
        await using var reader = await cmd.ExecuteReaderAsync();
        while (await reader.ReadAsync())
            rows.Add($"{reader.GetInt32(0)}|{reader.GetInt32(1)}|{(reader.IsDBNull(2) ? "null" : reader.GetString(2))}");
        return rows;
    }

    /// <summary>What a consumer applying the file's events in order holds: a truncate empties the table.</summary>
    private static HashSet<string> Replay(List<string> lines)
    {
        var rows = new Dictionary<string, string>();
        foreach (var line in lines)
        {
            using var json = JsonDocument.Parse(line);
            var e = json.RootElement;
            switch (e.GetProperty("op").GetString())
            {
                case "t":
                    rows.Clear();
                    break;
                case "d":
                    rows.Remove(e.GetProperty("key").GetString()!);
                    break;
                case "u" when e.GetProperty("before").ValueKind == JsonValueKind.Object:
                    rows.Remove(e.GetProperty("before").GetProperty("id").GetRawText());
                    goto default;
                default:
                    var after = e.GetProperty("after");
                    var note = after.GetProperty("note");
                    rows[e.GetProperty("key").GetString()!] =
                        $"{after.GetProperty("id").GetRawText()}|{after.GetProperty("v").GetRawText()}|{(note.ValueKind == JsonValueKind.Null ? "null" : note.GetString())}";
                    break;
            }
        }
        return rows.Values.ToHashSet();
    }

    private static async Task<HashSet<string>> HashesAsync(string address)
    {
        var rows = new HashSet<string>();
        await using var redis = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(address);
        var db = redis.GetDatabase();
        await foreach (var key in redis.GetServers()[0].KeysAsync(pattern: "pub.items.*", pageSize: 1000))
        {
            var fields = (await db.HashGetAllAsync(key)).ToDictionary(e => (string)e.Name!, e => (string)e.Value!);
            rows.Add($"{fields.GetValueOrDefault("id")}|{fields.GetValueOrDefault("v")}|{fields.GetValueOrDefault("note") ?? "null"}");
        }
        return rows;
    }

    /// <summary>The file's complete lines (a kill -9 may leave a torn last one, which a consumer skips).</summary>
    private static List<string> ReadLines(string path)
    {
        if (!File.Exists(path)) return [];
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        var text = new StreamReader(stream).ReadToEnd();
        var lines = text.Split('\n');
        return lines.Take(lines.Length - 1).Where(l => l.Length > 0).ToList();
    }

    private static string Tail(string output) => string.Join("\n", output.Split('\n').TakeLast(60));

    public void Dispose() => Directory.Delete(_state, recursive: true);
}
