using System.Net;
using System.Text.Json;
using Npgsql;
using Pgrelay.Replication.Local;
using Pgrelay.Testing;

namespace Pgrelay.Host.Tests;

using static CheckpointRig;

/// <summary>
/// When the real <c>pgrelay run</c> writes store checkpoints besides the interval: at a graceful stop (so the next start
/// resumes where this one stopped), and once <c>checkpoint-wal</c> bytes of WAL were applied since the last one. And the
/// start-up timeline /status shows, from exec to served.
/// </summary>
public class CheckpointTriggerTests : IDisposable
{
    private readonly string _state = Directory.CreateTempSubdirectory("pgrelay-ckpt-trigger-").FullName;

    public void Dispose() => Directory.Delete(_state, recursive: true);

    private string[] Args(PrivatePostgresCluster cluster, int httpPort, params string[] more) =>
    [
        "run", "--state-dir", _state, "--source", cluster.UrlFor("postgres"), "--publication", "pub", "--http", $"127.0.0.1:{httpPort}",
        "--resp", "off", "--memcached", "off", "--heartbeat", "1s", .. more,
    ];

    [Fact]
    public async Task A_graceful_stop_writes_a_last_checkpoint_and_the_restart_resumes_from_it_exactly()
    {
        await using var cluster = await PrivatePostgresCluster.StartAsync();
        await Sql(cluster, """
            CREATE TABLE t (id int PRIMARY KEY, v text, n int);
            INSERT INTO t SELECT g, 'v' || g, g FROM generate_series(1, 2000) g;
            CREATE PUBLICATION pub FOR TABLE t;
            """);
        int httpPort = FreeTcpPort.Next();
        // No checkpoint by interval or by WAL while it runs: only the stop can write one.
        var args = Args(cluster, httpPort, "--checkpoint-interval", "60m", "--checkpoint-wal", "off");
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{httpPort}") };
        var directory = Path.Combine(_state, "checkpoints");

        string visibleAtStop;
        await using (var first = PgrelayProcess.Start(args))
        {
            await WaitReadyAsync(http, first);
            await Sql(cluster, "UPDATE t SET n = -n WHERE id % 2 = 0; DELETE FROM t WHERE id > 1900; INSERT INTO t VALUES (5000, NULL, NULL);");
            await AssertServedEqualsSourceAsync(http, cluster, first);
            visibleAtStop = (await StatusAsync(http)).GetProperty("visible_lsn").GetString()!;
            Assert.Empty(Files(directory, "*.ckpt"));
            Assert.True(await first.StopAsync(), first.Output);
            Assert.Contains("(stop)", first.Output);
        }
        var checkpoint = Assert.Single(Files(directory, "*.ckpt"));

        await using var second = PgrelayProcess.Start(args);
        await WaitReadyAsync(http, second);
        // Readiness comes with the store's data; the steps are marked a moment after.
        var status = await Eventually.Get(() => StatusAsync(http),
            s => s.GetProperty("startup").EnumerateArray().Any(m => m.GetProperty("step").GetString() == "served"), "the start-up to end", 30);
        var checkpoints = status.GetProperty("checkpoints");
        // Resumed from the stop's checkpoint, which holds everything applied before the stop.
        Assert.Equal(0, checkpoints.GetProperty("useless").GetInt64());
        Assert.True(Lsn(checkpoints.GetProperty("loaded_lsn").GetString()!) >= Lsn(visibleAtStop), checkpoint);
        // Its start-up, step by step, from exec to served.
        var steps = status.GetProperty("startup").EnumerateArray().Select(s => s.GetProperty("step").GetString()).ToList();
        foreach (var step in new[] { "main", "settings", "preflight", "host built", "host started", "source checked", "checkpoint loaded", "served" })
            Assert.Contains(step, steps);
        // The console logger writes from a queue of its own: its lines may follow readiness by a moment.
        await Eventually.True(() => second.Output.Contains("resumed from checkpoint") && second.Output.Contains("serving; start-up took"),
            "the resume's and the timeline's log lines", 30);

        await Sql(cluster, "UPDATE t SET v = 'last' WHERE id = 1");
        await AssertServedEqualsSourceAsync(http, cluster, second);
    }

    [Fact]
    public async Task A_checkpoint_is_written_once_checkpoint_wal_bytes_were_applied_before_the_interval_is_up()
    {
        await using var cluster = await PrivatePostgresCluster.StartAsync();
        await Sql(cluster, """
            CREATE TABLE t (id int PRIMARY KEY, v text, n int);
            INSERT INTO t SELECT g, 'v' || g, g FROM generate_series(1, 100) g;
            CREATE PUBLICATION pub FOR TABLE t;
            """);
        int httpPort = FreeTcpPort.Next();
        var args = Args(cluster, httpPort, "--checkpoint-interval", "60m", "--checkpoint-wal", "256kB");
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{httpPort}") };
        await using var pgrelay = PgrelayProcess.Start(args);
        await WaitReadyAsync(http, pgrelay);
        Assert.Equal(0, (await StatusAsync(http)).GetProperty("checkpoints").GetProperty("written").GetInt64());
        Assert.Equal(256 * 1024, (await StatusAsync(http)).GetProperty("checkpoints").GetProperty("wal_bytes").GetInt64());

        // Well over 256 kB of WAL, applied by pgrelay.
        for (int i = 0; i < 20; i++) await Sql(cluster, $"UPDATE t SET v = repeat(md5(id::text || '{i}'), 8), n = n + 1");
        try
        {
            await Eventually.True(async () =>
                (await StatusAsync(http)).GetProperty("checkpoints").GetProperty("written").GetInt64() >= 1, "a checkpoint by WAL applied", 60);
        }
        catch (TimeoutException e)
        {
            throw new TimeoutException($"{e.Message}\ncheckpoints: {(await StatusAsync(http)).GetProperty("checkpoints")}\npgrelay:\n{pgrelay.Output}");
        }
        // The console logger writes from a queue of its own: the line may follow the count by a moment.
        await Eventually.True(() => pgrelay.Output.Contains("(WAL applied)"), "the checkpoint's log line, by WAL applied", 30);
    }

    private static ulong Lsn(string text)
    {
        var parts = text.Split('/');
        return (Convert.ToUInt64(parts[0], 16) << 32) | Convert.ToUInt64(parts[1], 16);
    }
}
