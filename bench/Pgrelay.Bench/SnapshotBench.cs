using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Pgrelay.Core.Status;
using Pgrelay.Replication;
using Pgrelay.Replication.Local;
using Pgrelay.Store;
using static Pgrelay.Bench.Tools;

namespace Pgrelay.Bench;

/// <summary>
/// Only the snapshot figure, alternating anchor and pgrelay several times, with pgrelay's own log lines timestamped
/// so the phases (slot, introspection, copy, completion) can be told apart.
/// </summary>
internal static class SnapshotBench
{
    public static async Task RunAsync(int rows, int rounds, int parallelism)
    {
        await using var cluster = await PrivatePostgresCluster.StartAsync();
        var cs = cluster.ConnectionString;
        var url = cluster.UrlFor("postgres");
        await Sql(cs, $"""
            CREATE TABLE bench_rows (id bigint PRIMARY KEY, name text, score numeric(10,2), created timestamptz, flag boolean, payload text);
            INSERT INTO bench_rows SELECT i, 'name ' || i, (i % 10000) / 7.0, '2024-01-01'::timestamptz + i * interval '1 second', i % 2 = 0, md5(i::text)
              FROM generate_series(1, {rows}) i;
            CREATE PUBLICATION bench_mem FOR TABLE bench_rows;
            """);
        await Sql(cs, "VACUUM ANALYZE bench_rows");
        using var logs = LoggerFactory.Create(b => b.AddProvider(new TimestampedConsole()).SetMinimumLevel(LogLevel.Information));
        for (int round = 0; round < rounds; round++)
        {
            var copy = (await Run("sh", ["-c", $"{PgBin}/psql '{url}' -q -c 'COPY bench_rows TO STDOUT' > /dev/null"])).Elapsed.TotalSeconds;
            var store = new ReplicatedStore();
            using var stop = new CancellationTokenSource();
            var service = new ReplicationService(new ReplicationOptions
            {
                Source = url, Publications = ["bench_mem"], SlotName = "bench_mem", CopyParallelism = parallelism,
            }, store, new ReplicationStatus(), logs);
            var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
            var pause0 = GC.GetTotalPauseDuration();
            int gen0 = GC.CollectionCount(0), gen1 = GC.CollectionCount(1), gen2 = GC.CollectionCount(2);
            logs.CreateLogger("bench").LogInformation("round {Round}: pgrelay starts", round);
            var sw = Stopwatch.StartNew();
            var running = Task.Run(() => service.RunAsync(stop.Token));
            while (!store.IsReady && !running.IsFaulted) await Task.Delay(5);
            if (running.IsFaulted) await running;
            double ours = sw.Elapsed.TotalSeconds;
            double ourCpu = (Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalSeconds;
            double pause = (GC.GetTotalPauseDuration() - pause0).TotalSeconds;
            var collections = $"{GC.CollectionCount(0) - gen0}/{GC.CollectionCount(1) - gen1}/{GC.CollectionCount(2) - gen2}";
            stop.Cancel();
            try { await running; } catch (OperationCanceledException) { }
            await Sql(cs, "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = 'bench_mem'");
            Console.WriteLine($"round {round}: COPY to /dev/null {copy:F2}s, pgrelay {ours:F2}s, ratio {copy / ours:F2}x; pgrelay process CPU {ourCpu:F2}s, GC pauses {pause:F2}s (gen0/1/2 {collections})");
        }
    }

    private sealed class TimestampedConsole : ILoggerProvider
    {
        private readonly Stopwatch _clock = Stopwatch.StartNew();
        public ILogger CreateLogger(string categoryName) => new Logger(_clock);
        public void Dispose() { }

        private sealed class Logger(Stopwatch clock) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
            public bool IsEnabled(LogLevel logLevel) => true;
            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
                Console.WriteLine($"  {clock.Elapsed.TotalSeconds,8:F3} {formatter(state, exception)}");
        }
    }
}
