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
/// so the phases (slot, introspection, copy, completion) can be told apart. <c>readers</c> picks how the copy reads COPY
/// data: <c>direct</c> (CopyOutSession, the default in the product), <c>npgsql</c> (Npgsql's COPY API) or <c>both</c>,
/// alternating within each round after the same anchor.
/// </summary>
internal static class SnapshotBench
{
    public static async Task RunAsync(int rows, int rounds, int parallelism, string readers = "both")
    {
        bool[] directs = readers switch
        {
            "direct" => [true],
            "npgsql" => [false],
            _ => [true, false],
        };
        Console.WriteLine($"load average at start: {File.ReadAllText("/proc/loadavg").Trim()}");
        await using var cluster = await PrivatePostgresCluster.StartAsync();
        var cs = cluster.ConnectionString;
        var url = cluster.UrlFor("postgres");
        await Sql(cs, $"""
            CREATE TABLE bench_rows (id text primary key, owner text, balance numeric(12,2), opened date, active bool, tier int, email text, note text);
            INSERT INTO bench_rows SELECT lpad(g::text, 12, '0'), 'owner ' || g, g * 1.25, date '2020-01-01' + g % 1000, g % 3 = 0, g % 7,
              'u' || g || '@example.com', case when g % 4 = 0 then null else 'note ' || g end FROM generate_series(1, {rows}) g;
            CREATE PUBLICATION bench_mem FOR TABLE bench_rows;
            """);
        await Sql(cs, "VACUUM ANALYZE bench_rows");
        using var logs = LoggerFactory.Create(b => b.AddProvider(new TimestampedConsole()).SetMinimumLevel(LogLevel.Information));
        for (int round = 0; round < rounds; round++)
        {
            var copy = (await Run("sh", ["-c", $"{PgBin}/psql '{url}' -q -c 'COPY bench_rows TO STDOUT' > /dev/null"])).Elapsed.TotalSeconds;
            foreach (var direct in directs)
            {
                var store = new ReplicatedStore();
                using var stop = new CancellationTokenSource();
                var service = new ReplicationService(new ReplicationOptions
                {
                    Source = url, Publications = ["bench_mem"], SlotName = "bench_mem", CopyParallelism = parallelism, DirectCopy = direct,
                }, store, new ReplicationStatus(), logs);
                var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
                var pause0 = GC.GetTotalPauseDuration();
                int gen0 = GC.CollectionCount(0), gen1 = GC.CollectionCount(1), gen2 = GC.CollectionCount(2);
                var reader = direct ? "direct" : "npgsql";
                logs.CreateLogger("bench").LogInformation("round {Round}: pgrelay ({Reader}) starts", round, reader);
                long workItems = ThreadPool.CompletedWorkItemCount;
                var sw = Stopwatch.StartNew();
                var running = Task.Run(() => service.RunAsync(stop.Token));
                // Polled, like a client waiting for the data; not more often than this, or the polling timer's thread-pool
                // wake-ups (and the pool's spinning) become a visible share of the CPU measured.
                while (!store.IsReady && !running.IsFaulted) await Task.Delay(20);
                if (running.IsFaulted) await running;
                double ours = sw.Elapsed.TotalSeconds;
                workItems = ThreadPool.CompletedWorkItemCount - workItems;
                double ourCpu = (Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalSeconds;
                double pause = (GC.GetTotalPauseDuration() - pause0).TotalSeconds;
                var collections = $"{GC.CollectionCount(0) - gen0}/{GC.CollectionCount(1) - gen1}/{GC.CollectionCount(2) - gen2}";
                stop.Cancel();
                try { await running; } catch (OperationCanceledException) { }
                await Sql(cs, "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = 'bench_mem'");
                Console.WriteLine($"round {round}: COPY to /dev/null {copy:F2}s, pgrelay ({reader}) {ours:F2}s, ratio {copy / ours:F2}x; pgrelay process CPU {ourCpu:F2}s, GC pauses {pause:F2}s (gen0/1/2 {collections}), thread-pool work items {workItems}; load {File.ReadAllText("/proc/loadavg")[..14]}");
            }
        }
        Console.WriteLine($"load average at end: {File.ReadAllText("/proc/loadavg").Trim()}");
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
