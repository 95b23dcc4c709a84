using System.Net;
using System.Text.Json;
using Npgsql;
using Pgrelay.Replication.Local;
using Pgrelay.Testing;

namespace Pgrelay.Host.Tests;

using static CheckpointRig;

/// <summary>
/// Checkpoints and kill -9, with the real <c>pgrelay run</c> process against a real PostgreSQL: a crash in the middle of a
/// checkpoint write leaves the previous checkpoint to restart from, exactly; and after a crash and a restart from a
/// checkpoint, a file sink's update events carry complete before images (the store restarts at or below the sink).
/// </summary>
public class CheckpointCrashTests : IDisposable
{
    private readonly string _state = Directory.CreateTempSubdirectory("pgrelay-ckpt-crash-").FullName;

    public void Dispose() => Directory.Delete(_state, recursive: true);

    [Fact]
    public async Task Kill_9_in_the_middle_of_a_checkpoint_write_then_restart_from_the_previous_one_is_exact()
    {
        await using var cluster = await PrivatePostgresCluster.StartAsync();
        // Wide rows, so a checkpoint has several blocks and the test hook's pause after each block leaves time to kill it.
        await Sql(cluster, """
            CREATE TABLE t (id int PRIMARY KEY, v text, n int);
            INSERT INTO t SELECT g, repeat(md5(g::text), 40), g FROM generate_series(1, 3000) g;
            CREATE PUBLICATION pub FOR TABLE t;
            """);
        int httpPort = FreeTcpPort.Next();
        string[] args = ["run", "--state-dir", _state, "--source", cluster.UrlFor("postgres"), "--publication", "pub",
            "--http", $"127.0.0.1:{httpPort}", "--resp", "off", "--memcached", "off", "--heartbeat", "1s", "--checkpoint-interval", "1s"];
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{httpPort}") };
        var slow = new Dictionary<string, string> { ["PGRELAY_TEST_CHECKPOINT_BLOCK_PAUSE_MS"] = "700" };
        var directory = Path.Combine(_state, "checkpoints");

        string firstCheckpoint;
        await using (var first = PgrelayProcess.StartWith(slow, args))
        {
            await WaitReadyAsync(http, first);
            await Sql(cluster, "UPDATE t SET n = -n WHERE id % 2 = 0");
            firstCheckpoint = await Eventually.Get(() => Task.FromResult(Files(directory, "*.ckpt").FirstOrDefault()),
                f => f is not null, "a first checkpoint", 120) ?? "";
            await Sql(cluster, "UPDATE t SET v = 'after the first checkpoint' WHERE id % 3 = 0; DELETE FROM t WHERE id > 2900;");
            // The next write is under way (its temporary file exists): kill it there.
            await Eventually.True(() => Files(directory, "*.tmp").Any(f => string.CompareOrdinal(
                Path.GetFileNameWithoutExtension(f), Path.GetFileNameWithoutExtension(firstCheckpoint)) > 0), "a second checkpoint being written", 120);
            first.Kill9();
        }
        Assert.Equal([firstCheckpoint], Directory.GetFiles(directory, "*.ckpt"));
        await Sql(cluster, "INSERT INTO t VALUES (5000, 'while down', NULL); UPDATE t SET n = 0 WHERE id < 10;");

        await using var second = PgrelayProcess.Start(args);
        await WaitReadyAsync(http, second);
        var checkpoints = (await StatusAsync(http)).GetProperty("checkpoints");
        Assert.NotEqual("0/0", checkpoints.GetProperty("loaded_lsn").GetString());
        Assert.Equal(0, checkpoints.GetProperty("useless").GetInt64());
        Assert.Contains("resumed from checkpoint", second.Output);
        await Sql(cluster, "UPDATE t SET v = 'last' WHERE id = 1");
        await AssertServedEqualsSourceAsync(http, cluster, second);
    }

    [Fact]
    public async Task After_kill_9_and_a_restart_from_a_checkpoint_every_file_sink_update_carries_its_complete_before()
    {
        await using var cluster = await PrivatePostgresCluster.StartAsync();
        // big is TOASTed and never updated: pgoutput sends it as "unchanged" and the old row (REPLICA IDENTITY DEFAULT) holds
        // only the key, so only the store can fill the before image.
        await Sql(cluster, """
            CREATE TABLE t (id int PRIMARY KEY, big text, n int);
            INSERT INTO t SELECT g, (SELECT string_agg(md5(g::text || i::text), '') FROM generate_series(1, 100) i), 0 FROM generate_series(1, 50) g;
            CREATE PUBLICATION pub FOR TABLE t;
            """);
        int httpPort = FreeTcpPort.Next();
        var sinkFile = Path.Combine(_state, "changes.jsonl");
        string[] args = ["run", "--state-dir", _state, "--source", cluster.UrlFor("postgres"), "--publication", "pub",
            "--http", $"127.0.0.1:{httpPort}", "--resp", "off", "--memcached", "off", "--heartbeat", "1s", "--checkpoint-interval", "1s",
            "--sink", $"file:{sinkFile}"];
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{httpPort}") };

        await using (var first = PgrelayProcess.Start(args))
        {
            await WaitReadyAsync(http, first);
            await Updates(cluster, 0, 30);
            await Eventually.Get(() => StatusAsync(http), s => s.GetProperty("checkpoints").GetProperty("written").GetInt64() > 0, "a checkpoint", 120);
            await Updates(cluster, 30, 60);
            first.Kill9();
        }
        await Updates(cluster, 60, 80);
        await using var second = PgrelayProcess.Start(args);
        await WaitReadyAsync(http, second);
        Assert.True(second.Output.Contains("resumed from checkpoint"), second.Output);
        await Updates(cluster, 80, 100);

        // Every update reached the file (at least once), each with the whole old row.
        await Eventually.True(() => File.Exists(sinkFile) && File.ReadLines(sinkFile).Any(l => l.Contains("\"n\":100}")), "the last update in the file", 120);
        var updates = File.ReadLines(sinkFile).Select(l => JsonDocument.Parse(l).RootElement)
            .Where(e => e.GetProperty("op").GetString() == "u").ToList();
        Assert.True(updates.Count >= 100 * 2, $"{updates.Count} updates");
        foreach (var update in updates)
        {
            var before = update.GetProperty("before");
            Assert.True(before.ValueKind == JsonValueKind.Object, update.ToString());
            Assert.Equal(3200, before.GetProperty("big").GetString()!.Length);
            Assert.Equal(update.GetProperty("after").GetProperty("n").GetInt32() - 1, before.GetProperty("n").GetInt32());
            Assert.False(update.TryGetProperty("partial", out var partial) && partial.ValueKind == JsonValueKind.True, update.ToString());
        }
    }

    /// <summary>Transactions i in [from, to): each sets n = i + 1 on rows 1 and 2.</summary>
    private static async Task Updates(PrivatePostgresCluster cluster, int from, int to)
    {
        for (int i = from; i < to; i++) await Sql(cluster, $"UPDATE t SET n = {i + 1} WHERE id IN (1, 2)");
    }
}
