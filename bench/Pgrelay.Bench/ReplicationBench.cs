using System.Diagnostics;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Pgrelay.Core.Status;
using Pgrelay.Replication;
using Pgrelay.Replication.Local;
using Pgrelay.Store;
using static Pgrelay.Bench.Tools;

namespace Pgrelay.Bench;

/// <summary>
/// Issue #2's figures, each side by side with its anchor in the same run on the same data:
/// snapshot rows/s vs COPY TO STDOUT, changes/s vs pg_recvlogical, commit→visible lag, bytes per row vs redis-server.
/// </summary>
internal sealed class ReplicationBench(int snapshotRows, int changeTransactions, int changesPerTransaction, int lagSeconds, int lagRate)
{
    private readonly StringBuilder _report = new();

    public async Task<string> RunAsync()
    {
        // synchronous_commit on: with it off, the walsender only sees a commit after the WAL writer's next
        // cycle (wal_writer_delay, 200 ms), which would measure PostgreSQL's setting, not pgrelay.
        var clusterOptions = new PrivateClusterOptions();
        clusterOptions.ExtraSettings.Add("synchronous_commit = on");
        await using var cluster = await PrivatePostgresCluster.StartAsync(clusterOptions);
        var cs = cluster.ConnectionString;
        var url = cluster.UrlFor("postgres");
        Line($"# replication benchmarks ({DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, {Environment.ProcessorCount} cores, PostgreSQL 15 private cluster, fsync off)");
        Line("");

        await Sql(cs, $"""
            CREATE TABLE bench_rows (id bigint PRIMARY KEY, name text, score numeric(10,2), created timestamptz, flag boolean, payload text);
            INSERT INTO bench_rows SELECT i, 'name ' || i, (i % 10000) / 7.0, '2024-01-01'::timestamptz + i * interval '1 second', i % 2 = 0, md5(i::text)
              FROM generate_series(1, {snapshotRows}) i;
            CREATE TABLE bench_changes (id int PRIMARY KEY, v int NOT NULL, t text);
            INSERT INTO bench_changes SELECT i, 0, 'x' FROM generate_series(1, 100000) i;
            CREATE TABLE bench_lag (id int PRIMARY KEY, seq bigint NOT NULL);
            INSERT INTO bench_lag SELECT i, 0 FROM generate_series(0, 99) i;
            CREATE PUBLICATION bench_mem FOR TABLE bench_rows;
            CREATE PUBLICATION bench FOR TABLE bench_changes, bench_lag;
            """);
        await Sql(cs, "VACUUM ANALYZE");

        // ---- snapshot: COPY TO STDOUT (psql, to /dev/null) vs our parallel copy into the store ----
        var copyTimes = new List<double>();
        for (int i = 0; i < 3; i++)
            copyTimes.Add((await Run($"{PgBin}/psql", [url, "-q", "-c", "COPY bench_rows TO STDOUT"])).Elapsed.TotalSeconds);
        double copyBest = copyTimes.Min();

        // One publication holding only bench_rows, so heap growth is that table's cost and nothing else's.
        GC.Collect(2, GCCollectionMode.Forced, true, true);
        long heapBefore = GC.GetTotalMemory(true);
        var memStore = new ReplicatedStore();
        double snapshotSeconds;
        using (var stopMem = new CancellationTokenSource())
        {
            var memService = new ReplicationService(new ReplicationOptions { Source = url, Publications = ["bench_mem"], SlotName = "bench_mem" },
                memStore, new ReplicationStatus(), NullLoggerFactory.Instance);
            var sw0 = Stopwatch.StartNew();
            var memRunning = Task.Run(() => memService.RunAsync(stopMem.Token));
            await WaitUntil(() => memStore.IsReady || memRunning.IsFaulted, TimeSpan.FromMinutes(10), "snapshot");
            if (memRunning.IsFaulted) await memRunning;
            snapshotSeconds = sw0.Elapsed.TotalSeconds;
            stopMem.Cancel();
            try { await memRunning; } catch (OperationCanceledException) { }
        }
        GC.Collect(2, GCCollectionMode.Forced, true, true);
        long heapAfter = GC.GetTotalMemory(true);
        var rowsTable = memStore.FindPublication("bench_mem")!.FindTable("bench_rows")!;
        await Sql(cs, "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = 'bench_mem'");

        Line("## Snapshot copy");
        Line("");
        Line($"| | rows | seconds | rows/s |");
        Line($"| --- | ---: | ---: | ---: |");
        Line($"| `psql -c 'COPY bench_rows TO STDOUT' > /dev/null` (best of 3) | {snapshotRows:N0} | {copyBest:F2} | {snapshotRows / copyBest:N0} |");
        Line($"| pgrelay: preflight, slot with exported snapshot, parallel copy into the store | {snapshotRows:N0} | {snapshotSeconds:F2} | {snapshotRows / snapshotSeconds:N0} |");
        Line("");
        Line($"**ratio {copyBest / snapshotSeconds:F2}×** (goal ≥ 0.8×)");
        Line("");

        // ---- memory: vs redis-server holding the same rows as hashes ----
        double heapPerRow = (double)(heapAfter - heapBefore) / snapshotRows;
        double storePerRow = rowsTable.BytesPerRow;
        double redisPerRow = await RedisBytesPerRow(url, snapshotRows);
        GC.KeepAlive(memStore);
        Line("## Bytes per row (bench_rows: bigint, text, numeric, timestamptz, boolean, 32-char text)");
        Line("");
        Line("| | bytes/row |");
        Line("| --- | ---: |");
        Line($"| redis-server 7 (`used_memory` growth, rows as hashes, NULLs omitted) | {redisPerRow:F1} |");
        Line($"| pgrelay store accounting (row arrays + slots) | {storePerRow:F1} |");
        Line($"| pgrelay managed heap growth after a full GC (everything the table costs) | {heapPerRow:F1} |");
        Line("");
        Line($"**ratio {heapPerRow / redisPerRow:F2}×** by heap growth ({storePerRow / redisPerRow:F2}× by store accounting; goal ≤ 0.5×)");
        Line("");

        var store = new ReplicatedStore();
        var gated = new GatedTarget(store);
        var status = new ReplicationStatus();
        using var stop = new CancellationTokenSource();
        var options = new ReplicationOptions { Source = url, Publications = ["bench"], SlotName = "bench_stream", HeartbeatInterval = TimeSpan.FromSeconds(1) };
        var service = new ReplicationService(options, gated, status, NullLoggerFactory.Instance);
        var running = Task.Run(() => service.RunAsync(stop.Token));
        await WaitUntil(() => store.IsReady || running.IsFaulted, TimeSpan.FromMinutes(10), "snapshot");
        if (running.IsFaulted) await running;
        var sw = Stopwatch.StartNew();

        // ---- changes/s: the same backlog drained by pg_recvlogical and by pgrelay ----
        await Sql(cs, "SELECT pg_create_logical_replication_slot('bench_recv', 'pgoutput')");
        gated.Close();
        int changes = changeTransactions * changesPerTransaction;
        await using (var c = new Npgsql.NpgsqlConnection(cs))
        {
            await c.OpenAsync();
            for (int t = 0; t < changeTransactions; t++)
            {
                int from = (t * changesPerTransaction) % 100_000 + 1;
                await using var cmd = new Npgsql.NpgsqlCommand($"UPDATE bench_changes SET v = v + 1 WHERE id BETWEEN {from} AND {from + changesPerTransaction - 1}", c);
                await cmd.ExecuteNonQueryAsync();
            }
            await using var marker = new Npgsql.NpgsqlCommand("UPDATE bench_lag SET seq = -1 WHERE id = 0", c);
            await marker.ExecuteNonQueryAsync();
        }
        var endLsn = await Scalar<NpgsqlTypes.NpgsqlLogSequenceNumber>(cs, "SELECT pg_current_wal_lsn()");
        var recv = await Run($"{PgBin}/pg_recvlogical", ["-d", url, "--slot", "bench_recv", "--start", "--endpos", endLsn.ToString(),
            "--no-loop", "-o", "proto_version=1", "-o", "publication_names=bench", "-f", "/dev/null"]);
        await Sql(cs, "SELECT pg_drop_replication_slot('bench_recv')");

        var lagTable = store.FindPublication("bench")!.FindTable("bench_lag")!;
        var markerKey = Encoding.UTF8.GetBytes("0");
        sw.Restart();
        gated.Open();
        await WaitUntil(() => lagTable.TryGet(markerKey, out var r) && r.View.Value(1).SequenceEqual("-1"u8), TimeSpan.FromMinutes(10), "the backlog");
        double oursSeconds = sw.Elapsed.TotalSeconds;
        Line("## Streaming: draining the same backlog");
        Line("");
        Line($"{changeTransactions:N0} transactions × {changesPerTransaction} row updates = {changes:N0} changes, written while both consumers were stopped.");
        Line("");
        Line("| | seconds | changes/s |");
        Line("| --- | ---: | ---: |");
        Line($"| `pg_recvlogical` (pgoutput, to /dev/null) | {recv.Elapsed.TotalSeconds:F2} | {changes / recv.Elapsed.TotalSeconds:N0} |");
        Line($"| pgrelay: decode, build transactions, apply to the store, feed | {oursSeconds:F2} | {changes / oursSeconds:N0} |");
        Line("");
        Line($"**ratio {recv.Elapsed.TotalSeconds / oursSeconds:F2}×** (goal ≥ 0.9×)");
        Line("");

        // ---- commit → visible lag under a steady load ----
        var visibleAt = new System.Collections.Concurrent.ConcurrentDictionary<long, long>();
        using var listen = store.Feed.Listen(txn =>
        {
            long now = Stopwatch.GetTimestamp();
            foreach (var change in txn.Changes)
                if (change.Table == lagTable && change.After is { } after &&
                    long.TryParse(Encoding.UTF8.GetString(new Pgrelay.Core.Rows.RowView(after).Value(1)), out long seq))
                    visibleAt[seq] = now;
        });
        var committedAt = new Dictionary<long, long>();
        await using (var c = new Npgsql.NpgsqlConnection(cs))
        {
            await c.OpenAsync();
            await using var cmd = new Npgsql.NpgsqlCommand("UPDATE bench_lag SET seq = $1 WHERE id = $2", c);
            cmd.Parameters.Add(new Npgsql.NpgsqlParameter<long>());
            cmd.Parameters.Add(new Npgsql.NpgsqlParameter<int>());
            await cmd.PrepareAsync();
            long total = (long)lagSeconds * lagRate;
            var pace = Stopwatch.StartNew();
            for (long seq = 1; seq <= total; seq++)
            {
                var due = TimeSpan.FromSeconds((double)seq / lagRate);
                if (pace.Elapsed < due) await Task.Delay(due - pace.Elapsed);
                ((Npgsql.NpgsqlParameter<long>)cmd.Parameters[0]).TypedValue = seq;
                ((Npgsql.NpgsqlParameter<int>)cmd.Parameters[1]).TypedValue = (int)(seq % 100);
                await cmd.ExecuteNonQueryAsync();
                committedAt[seq] = Stopwatch.GetTimestamp();
            }
            await WaitUntil(() => visibleAt.ContainsKey(total), TimeSpan.FromMinutes(2), "the last lag sample");
        }
        var lags = committedAt.Where(kv => visibleAt.ContainsKey(kv.Key))
            .Select(kv => Math.Max(0, Stopwatch.GetElapsedTime(kv.Value, visibleAt[kv.Key]).TotalMilliseconds)).Order().ToList();
        Line("## Commit → visible lag under a steady load");
        Line("");
        Line($"{lagRate} single-row update transactions/s for {lagSeconds} s on one connection; lag = time from COMMIT returning to the client until the store made the row visible (0 when visible first).");
        Line("");
        Line("| samples | p50 ms | p90 ms | p99 ms | max ms |");
        Line("| ---: | ---: | ---: | ---: | ---: |");
        Line($"| {lags.Count:N0} | {Percentile(lags, 0.5):F2} | {Percentile(lags, 0.9):F2} | {Percentile(lags, 0.99):F2} | {lags.LastOrDefault():F2} |");
        Line("");

        stop.Cancel();
        try { await running; } catch (OperationCanceledException) { }
        return _report.ToString();
    }

    /// <summary>Loads the same rows into a private redis-server as hashes and reads used_memory growth.</summary>
    private static async Task<double> RedisBytesPerRow(string url, int rows)
    {
        int port = FreePort();
        var dir = Directory.CreateTempSubdirectory("pgrelay-bench-redis").FullName;
        var server = Process.Start(new ProcessStartInfo("redis-server", ["--port", port.ToString(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir])
            { RedirectStandardOutput = true, UseShellExecute = false })!;
        try
        {
            await Task.Delay(300);
            long before = await UsedMemory(port);
            // Same values, rendered as PostgreSQL prints them, via the redis-cli pipe protocol.
            var copy = await Run($"{PgBin}/psql", [url, "-q", "-c", "COPY (SELECT id, name, score, created, flag, payload FROM bench_rows) TO STDOUT"], capture: true);
            string[] names = ["id", "name", "score", "created", "flag", "payload"];
            var resp = new StringBuilder();
            foreach (var line in copy.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries))
            {
                var values = line.Split('\t');
                var args = new List<string> { "HSET", "bench.bench_rows." + values[0] };
                for (int i = 0; i < names.Length; i++)
                    if (values[i] != "\\N") { args.Add(names[i]); args.Add(values[i]); }
                resp.Append('*').Append(args.Count).Append("\r\n");
                foreach (var a in args) resp.Append('$').Append(Encoding.UTF8.GetByteCount(a)).Append("\r\n").Append(a).Append("\r\n");
            }
            await Run("redis-cli", ["-p", port.ToString(), "--pipe"], stdin: resp.ToString());
            long after = await UsedMemory(port);
            return (double)(after - before) / rows;
        }
        finally
        {
            server.Kill();
            await server.WaitForExitAsync();
            Directory.Delete(dir, true);
        }
    }

    private static async Task<long> UsedMemory(int port)
    {
        var info = await Run("redis-cli", ["-p", port.ToString(), "INFO", "memory"], capture: true);
        var line = info.Stdout.Split('\n').First(l => l.StartsWith("used_memory:"));
        return long.Parse(line["used_memory:".Length..].Trim());
    }

    private void Line(string text)
    {
        _report.AppendLine(text);
        Console.WriteLine(text);
    }
}
