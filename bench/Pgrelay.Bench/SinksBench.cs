using System.Diagnostics;
using System.Text;
using Microsoft.Extensions.Logging;
using Npgsql;
using Pgrelay.Core.Status;
using Pgrelay.Replication;
using Pgrelay.Replication.Local;
using Pgrelay.Sinks.Configuration;
using Pgrelay.Sinks.Delivery;
using Pgrelay.Sinks.Hosting;
using Pgrelay.Store;
using static Pgrelay.Bench.Tools;

namespace Pgrelay.Bench;

/// <summary>
/// Issue #5's figure: the postgres sink against PostgreSQL's own logical replication (CREATE SUBSCRIPTION) on the same
/// workload, in the same run, sides alternating. Each side gets a fresh source database with the same rows and a fresh
/// target database with the same (empty) tables, then two phases are timed:
/// <list type="number">
/// <item>initial load: from CREATE SUBSCRIPTION (copy_data) / pgrelay's start until every row is committed in the target;</item>
/// <item>backlog: the same transactions of inserts, updates and deletes are written while the consumer is held at the
/// target side (subscription: its apply worker waits on a table lock; pgrelay: replication's Apply waits on a gate), and
/// the time from the release until the target holds the last transaction's marker.</item>
/// </list>
/// Both are held the same way: the walsender keeps decoding until the socket is full, nothing is applied. After each
/// phase the target's table must equal the source's (row count and an md5 over every row's text), so neither side can
/// win by skipping work.
/// </summary>
/// <param name="sides">both, or only "pgrelay" or "subscription" (for profiling one side: no summary then).</param>
internal sealed class SinksBench(int rows, int transactions, int changesPerTransaction, int rounds, string sides = "both")
{
    private const string Items = """
        CREATE TABLE bench_items (id bigint PRIMARY KEY, account int NOT NULL, amount numeric(12,2), status text,
          updated timestamptz, note text);
        CREATE TABLE bench_marker (id int PRIMARY KEY, seq int NOT NULL);
        """;
    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(10);

    private readonly StringBuilder _report = new();
    private readonly int _inserts = Math.Max(1, changesPerTransaction / 5);
    private readonly int _deletes = Math.Max(1, changesPerTransaction / 5);
    private int Updates => Math.Max(1, changesPerTransaction - _inserts - _deletes);
    private long Changes => (long)transactions * (_inserts + Updates + _deletes) + 1;   // + the marker

    private PrivatePostgresCluster _source = null!, _target = null!;

    /// <param name="CpuSeconds">pgrelay's process CPU (0 for the subscription).</param>
    /// <param name="SenderCpu">The source walsender's CPU; <paramref name="WriterCpu"/>: the target backend applying (apply worker / sink session).</param>
    /// <param name="Snapshot">pgrelay's load: seconds until the store held the snapshot (the rest is the sink's load).</param>
    private sealed record Phase(double Seconds, double CpuSeconds, double SenderCpu = 0, double WriterCpu = 0, double Snapshot = 0);
    private sealed record SideResult(string Side, int Round, Phase Load, Phase Backlog);

    public async Task<string> RunAsync()
    {
        if ((long)transactions * _deletes >= rows / 2 || Updates >= rows / 2)
            throw new ArgumentException("too many deletes or updates for the rows: deletes take ids from 1 up, updates from rows/2 up");
        // Timeouts off: a held consumer sends no replies for as long as the backlog takes to write.
        var sourceOptions = new PrivateClusterOptions();
        sourceOptions.ExtraSettings.Add("wal_sender_timeout = 0");
        var targetOptions = new PrivateClusterOptions();
        targetOptions.ExtraSettings.Add("wal_receiver_timeout = 0");
        await using var source = await PrivatePostgresCluster.StartAsync(sourceOptions);
        await using var target = await PrivatePostgresCluster.StartAsync(targetOptions);
        _source = source;
        _target = target;

        Line($"# postgres sink vs CREATE SUBSCRIPTION ({DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, {Environment.ProcessorCount} cores, " +
             "PostgreSQL 15, two private clusters on loopback: source and target, fsync off, synchronous_commit off)");
        Line("");
        Line($"load at start: `{await Uptime()}`");
        Line("");
        Line($"Table `bench_items (id bigint primary key, account int, amount numeric(12,2), status text, updated timestamptz, note text)`, " +
             $"{rows:N0} rows. Backlog: {transactions:N0} transactions × ({_inserts} inserts + {Updates} updates + {_deletes} deletes) " +
             $"+ 1 marker update = {Changes:N0} row changes, written while the consumer is held. pgrelay: replication into the store, " +
             "one `postgres` sink with default settings (batch-size 1000) into a fresh database; anchor: `CREATE SUBSCRIPTION` " +
             "(copy_data = true, PostgreSQL 15 defaults) into a fresh database. Target tables created identically beforehand for both.");
        Line("");

        var results = new List<SideResult>();
        for (int round = 1; round <= rounds; round++)
        {
            string[] order = round % 2 == 1 ? ["subscription", "pgrelay"] : ["pgrelay", "subscription"];
            foreach (var side in order.Where(s => sides == "both" || s == sides))
            {
                var result = side == "pgrelay" ? await PgrelayAsync(round) : await SubscriptionAsync(round);
                results.Add(result);
                Console.WriteLine($"round {round} {side}: load {result.Load.Seconds:F2}s, backlog {result.Backlog.Seconds:F2}s");
            }
        }

        Line("## Rounds");
        Line("");
        Line("| round | side | load s | of which snapshot into the store | load rows/s | sink session CPU s (load) | backlog s | backlog changes/s | backlog CPU s: walsender | target writer | pgrelay process | pgrelay CPU load s |");
        Line("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        foreach (var r in results)
            Line($"| {r.Round} | {r.Side} | {r.Load.Seconds:F2} | {(r.Side == "pgrelay" ? r.Load.Snapshot.ToString("F2") : "–")} | {rows / r.Load.Seconds:N0} | {(r.Side == "pgrelay" ? r.Load.WriterCpu.ToString("F2") : "–")} | {r.Backlog.Seconds:F2} | {Changes / r.Backlog.Seconds:N0} | " +
                 $"{r.Backlog.SenderCpu:F2} | {r.Backlog.WriterCpu:F2} | " +
                 (r.Side == "pgrelay" ? $"{r.Backlog.CpuSeconds:F2} | {r.Load.CpuSeconds:F2} |" : "– | – |"));
        Line("");
        if (sides != "both") return _report.ToString();
        Line("## Summary (best of the rounds; spread = worst/best − 1)");
        Line("");
        Line("| phase | CREATE SUBSCRIPTION | spread | pgrelay postgres sink | spread | ratio (best) | ratio per round |");
        Line("| --- | ---: | ---: | ---: | ---: | ---: | --- |");
        Summary("initial load, rows/s", rows, r => r.Load.Seconds, results);
        Summary("backlog, changes/s", Changes, r => r.Backlog.Seconds, results);
        Line("");
        Line("ratio = pgrelay rows/s ÷ subscription rows/s (goal ≥ 1.0×). Every phase ended with target = source (count and md5 of all rows).");
        Line("");
        Line($"load at end: `{await Uptime()}`");
        return _report.ToString();
    }

    private void Summary(string phase, long count, Func<SideResult, double> seconds, List<SideResult> results)
    {
        var sub = results.Where(r => r.Side == "subscription").Select(seconds).ToList();
        var ours = results.Where(r => r.Side == "pgrelay").Select(seconds).ToList();
        var perRound = results.GroupBy(r => r.Round).Select(g =>
            seconds(g.Single(r => r.Side == "subscription")) / seconds(g.Single(r => r.Side == "pgrelay")));
        Line($"| {phase} | {count / sub.Min():N0} | {sub.Max() / sub.Min() - 1:P0} | {count / ours.Min():N0} | {ours.Max() / ours.Min() - 1:P0} | " +
             $"**{sub.Min() / ours.Min():F2}×** | {string.Join(", ", perRound.Select(x => $"{x:F2}×"))} |");
    }

    /// <summary>The anchor: PostgreSQL's own logical replication from the source database into a fresh target database.</summary>
    private async Task<SideResult> SubscriptionAsync(int round)
    {
        var (sourceDb, targetDb) = await PrepareAsync($"sub{round}");
        var targetCs = _target.ConnectionStringFor(targetDb);
        var sw = Stopwatch.StartNew();
        await Sql(targetCs, $"CREATE SUBSCRIPTION bench_sub CONNECTION 'host={_source.Host} port={_source.Port} user=postgres dbname={sourceDb}' " +
                            "PUBLICATION bench_pub WITH (copy_data = true)");
        await Poll(targetCs, "SELECT count(*) = 2 AND bool_and(srsubstate = 'r') FROM pg_subscription_rel", "the subscription's initial copy");
        var load = new Phase(sw.Elapsed.TotalSeconds, 0);
        await VerifyAsync(sourceDb, targetDb, "subscription, initial load");

        Phase backlog;
        // Held at the target: the apply worker blocks on its first change to bench_items until the lock goes.
        await using (var holder = new NpgsqlConnection(targetCs))
        {
            await holder.OpenAsync();
            await using var tx = await holder.BeginTransactionAsync();
            await using (var lockCmd = new NpgsqlCommand("LOCK TABLE bench_items IN ACCESS EXCLUSIVE MODE", holder, tx)) await lockCmd.ExecuteNonQueryAsync();
            await WriteBacklogAsync(sourceDb);
            var cpu = await BackendCpu.StartAsync(_source.ConnectionStringFor(sourceDb), targetCs, "SELECT pid FROM pg_stat_subscription WHERE relid IS NULL");
            sw.Restart();
            await tx.CommitAsync();
            await Poll(targetCs, "SELECT seq = 1 FROM bench_marker WHERE id = 1", "the subscription to apply the backlog");
            var seconds = sw.Elapsed.TotalSeconds;
            backlog = new Phase(seconds, 0, cpu.Sender, cpu.Writer);
        }
        await VerifyAsync(sourceDb, targetDb, "subscription, backlog");

        await Sql(targetCs, "DROP SUBSCRIPTION bench_sub");
        await DropAsync(sourceDb, targetDb);
        return new SideResult("subscription", round, load, backlog);
    }

    /// <summary>pgrelay in-process, wired like the host: replication into the store, the sinks reading its feed.</summary>
    private async Task<SideResult> PgrelayAsync(int round)
    {
        var (sourceDb, targetDb) = await PrepareAsync($"relay{round}");
        using var logs = LoggerFactory.Create(b => b.AddProvider(new ConsoleWarnings()).SetMinimumLevel(LogLevel.Warning));
        var settings = new SinkSettings
        {
            Sinks = [new SinkDefinition { Name = "bench", Type = SinkType.Postgres, Target = _target.UrlFor(targetDb) }],
        };
        var store = new ReplicatedStore();
        var gated = new GatedTarget(store);
        var status = new ReplicationStatus();
        await using var sinks = new SinkSupervisor(settings, store, logs, () => status.ConfirmedLsn);
        var runner = sinks.Runners.Single();
        using var stop = new CancellationTokenSource();
        var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
        var sw = Stopwatch.StartNew();
        var sinking = sinks.RunAsync(stop.Token);
        var service = new ReplicationService(new ReplicationOptions
        {
            Source = _source.UrlFor(sourceDb), Publications = ["bench_pub"], SlotName = "bench_relay",
        }, gated, status, logs);
        var replicating = Task.Run(() => service.RunAsync(stop.Token));
        double snapshot = 0;
        await WaitUntil(() =>
        {
            if (snapshot == 0 && store.IsReady) snapshot = sw.Elapsed.TotalSeconds;
            return (runner.Status.State == SinkState.Streaming && runner.Status.RowsLoaded >= rows + 1) || replicating.IsCompleted || sinking.IsCompleted;
        }, Limit, "pgrelay's initial load");
        if (replicating.IsCompleted) await replicating;
        if (sinking.IsCompleted) await sinking;
        var loadSeconds = sw.Elapsed.TotalSeconds;
        // The sink's session is new with the load: its whole CPU so far is the load's (and the target tables' lookups).
        var sinkSession = await BackendCpu.StartAsync(_source.ConnectionStringFor(sourceDb), _target.ConnectionStringFor(targetDb), SinkSessionPid, fromZero: true);
        var load = new Phase(loadSeconds, (Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalSeconds, WriterCpu: sinkSession.Writer, Snapshot: snapshot);
        await VerifyAsync(sourceDb, targetDb, "pgrelay, initial load");

        gated.Close();
        await WriteBacklogAsync(sourceDb);
        var backends = await BackendCpu.StartAsync(_source.ConnectionStringFor(sourceDb), _target.ConnectionStringFor(targetDb), SinkSessionPid);
        cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
        sw.Restart();
        gated.Open();
        await Poll(_target.ConnectionStringFor(targetDb), "SELECT seq = 1 FROM bench_marker WHERE id = 1", "pgrelay to apply the backlog");
        var backlog = new Phase(sw.Elapsed.TotalSeconds, (Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalSeconds,
            backends.Sender, backends.Writer);
        await VerifyAsync(sourceDb, targetDb, "pgrelay, backlog");

        // The host's order: replication first, then the sinks.
        stop.Cancel();
        try { await replicating; } catch (OperationCanceledException) { }
        try { await sinking; } catch (OperationCanceledException) { }
        await Sql(_source.ConnectionStringFor(sourceDb),
            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = 'bench_relay' AND NOT active");
        await DropAsync(sourceDb, targetDb);
        return new SideResult("pgrelay", round, load, backlog);
    }

    /// <summary>A fresh source database (same rows every time) with the publication, and a fresh target with the same empty tables.</summary>
    private async Task<(string Source, string Target)> PrepareAsync(string name)
    {
        string sourceDb = "src_" + name, targetDb = "dst_" + name;
        await _source.CreateDatabaseAsync(sourceDb);
        await _target.CreateDatabaseAsync(targetDb);
        var cs = _source.ConnectionStringFor(sourceDb);
        await Sql(cs, $"""
            {Items}
            INSERT INTO bench_items SELECT i, i % 1000, (i % 100000) / 7.0, 'open', '2024-01-01'::timestamptz + i * interval '1 second', md5(i::text)
              FROM generate_series(1, {rows}) i;
            INSERT INTO bench_marker VALUES (1, 0);
            CREATE PUBLICATION bench_pub FOR TABLE bench_items, bench_marker;
            """);
        await Sql(cs, "VACUUM ANALYZE");
        await Sql(_target.ConnectionStringFor(targetDb), Items);
        await Sql(_source.ConnectionString, "CHECKPOINT");
        return (sourceDb, targetDb);
    }

    /// <summary>The backlog: the same transactions for both sides, then the marker, which is the last change either side applies.</summary>
    private async Task WriteBacklogAsync(string sourceDb)
    {
        await using var c = new NpgsqlConnection(_source.ConnectionStringFor(sourceDb));
        await c.OpenAsync();
        int half = rows / 2, updates = Updates;
        var sql = new StringBuilder();
        for (int t = 0; t < transactions; t++)
        {
            long insertFrom = rows + 1L + (long)t * _inserts;
            long updateFrom = half + 1L + (long)t * updates % (half - updates);
            long deleteFrom = 1L + (long)t * _deletes;
            sql.Append($"""
                BEGIN;
                INSERT INTO bench_items SELECT i, i % 1000, i / 3.0, 'new', '2025-01-01'::timestamptz + i * interval '1 second', md5(i::text)
                  FROM generate_series({insertFrom}, {insertFrom + _inserts - 1}) i;
                UPDATE bench_items SET amount = amount + 1, status = 'upd', updated = updated + interval '1 hour', note = md5(note)
                  WHERE id BETWEEN {updateFrom} AND {updateFrom + updates - 1};
                DELETE FROM bench_items WHERE id BETWEEN {deleteFrom} AND {deleteFrom + _deletes - 1};
                COMMIT;

                """);
            if (t % 50 == 49 || t == transactions - 1)
            {
                await using var cmd = new NpgsqlCommand(sql.ToString(), c) { CommandTimeout = 0 };
                await cmd.ExecuteNonQueryAsync();
                sql.Clear();
            }
        }
        await using var marker = new NpgsqlCommand("UPDATE bench_marker SET seq = 1 WHERE id = 1", c);
        await marker.ExecuteNonQueryAsync();
    }

    /// <summary>Target equals source: row count and an md5 over every row's text in key order.</summary>
    private async Task VerifyAsync(string sourceDb, string targetDb, string what)
    {
        const string sql = "SELECT count(*)::text || ' ' || coalesce(md5(string_agg(t::text, '|' ORDER BY id)), '') FROM bench_items t";
        var expected = await Scalar<string>(_source.ConnectionStringFor(sourceDb), sql);
        var actual = await Scalar<string>(_target.ConnectionStringFor(targetDb), sql);
        if (expected != actual) throw new InvalidOperationException($"{what}: the target differs from the source: {actual} vs {expected}");
        Console.WriteLine($"  {what}: target = source ({expected})");
    }

    private async Task DropAsync(string sourceDb, string targetDb)
    {
        await Sql(_source.ConnectionString, $"DROP DATABASE {sourceDb} WITH (FORCE)");
        await Sql(_target.ConnectionString, $"DROP DATABASE {targetDb} WITH (FORCE)");
    }

    /// <summary>Polls a boolean query every 5 ms on one connection until it is true.</summary>
    private static async Task Poll(string connectionString, string sql, string what)
    {
        await using var c = new NpgsqlConnection(connectionString);
        await c.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, c);
        var sw = Stopwatch.StartNew();
        while (await cmd.ExecuteScalarAsync() is not true)
        {
            if (sw.Elapsed > Limit) throw new TimeoutException("gave up waiting for " + what);
            await Task.Delay(5);
        }
    }

    private const string SinkSessionPid = "SELECT pid FROM pg_stat_activity WHERE application_name = 'pgrelay-sink' AND datname = current_database()";

    /// <summary>CPU time of the source's walsender and the target's writing backend from now on, read from /proc (same machine).</summary>
    private sealed class BackendCpu
    {
        private int _sender, _writer;
        private double _sender0, _writer0;

        public static async Task<BackendCpu> StartAsync(string sourceCs, string targetCs, string writerPidSql, bool fromZero = false)
        {
            var c = new BackendCpu
            {
                _sender = await Scalar<int>(sourceCs, "SELECT pid FROM pg_stat_replication WHERE application_name <> 'walreceiver' LIMIT 1"),
                _writer = await Scalar<int>(targetCs, writerPidSql),
            };
            c._sender0 = fromZero ? 0 : Seconds(c._sender);
            c._writer0 = fromZero ? 0 : Seconds(c._writer);
            return c;
        }

        public double Sender => Seconds(_sender) - _sender0;
        public double Writer => Seconds(_writer) - _writer0;

        /// <summary>utime + stime of a process in seconds (clock ticks of 1/100 s).</summary>
        private static double Seconds(int pid)
        {
            try
            {
                var stat = File.ReadAllText($"/proc/{pid}/stat");
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                return (long.Parse(fields[11]) + long.Parse(fields[12])) / 100.0;
            }
            catch (IOException) { return double.NaN; }
        }
    }

    private static async Task<string> Uptime()
    {
        try { return (await Run("uptime", [], capture: true)).Stdout.Trim(); }
        catch (Exception e) { return "uptime failed: " + e.Message; }
    }

    private void Line(string text)
    {
        _report.AppendLine(text);
        Console.WriteLine(text);
    }

    private sealed class ConsoleWarnings : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => new Logger();
        public void Dispose() { }

        private sealed class Logger : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
            public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;
            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
                Console.WriteLine($"  [{logLevel}] {formatter(state, exception)}");
        }
    }
}
