using System.Diagnostics;
using System.Net;
using System.Text;
using Npgsql;
using StackExchange.Redis;

namespace Pgrelay.Differential.Tests;

/// <summary>How big one run is: a bounded number of transactions, and hang guards that are never reached when all is well.</summary>
public sealed record RunSize(int Transactions, int SeedRows = 60)
{
    public static readonly TimeSpan HangGuard = TimeSpan.FromMinutes(4);
}

/// <summary>
/// One differential run: a private PostgreSQL, random tables and a random seeded workload from several workers, the real
/// <c>pgrelay</c> process started while the workload runs (killed with -9 and restarted, PostgreSQL restarted, as the
/// switches say), then every row compared through RESP, HTTP, the postgres sink and the file sink with PostgreSQL's own
/// rendering. Returns the divergences; the caller fails the test with the seed to reproduce them.
/// </summary>
public sealed class DifferentialRun : IAsyncDisposable
{
    private const string Publication = "pub";
    private const string Marker = "sync_marker";
    /// <summary>The start-up race's own table: no worker locks it (see <see cref="StartWithRacesAsync"/>).</summary>
    private const string Race = "start_race";

    private readonly int _seed;
    private readonly Switches _switches;
    private readonly RunSize _size;
    private readonly Action<string> _log;
    private readonly PostgresHarness _pg;
    private readonly SchemaModel _model = new();
    private readonly string _work = Directory.CreateTempSubdirectory("pgrelay-diff-").FullName;
    private readonly int _httpPort = FreeTcpPort.Next(), _respPort = FreeTcpPort.Next();
    private readonly Dictionary<string, int> _outcomes = new();
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private string _source = "", _target = "";
    private PgrelayProcess? _pgrelay;
    private readonly StringBuilder _pgrelayOutput = new();
    private int _started, _markers;
    private volatile TaskCompletionSource _gate = Open();
    // Kill9's moments: set when a worker begins a big (streamed) transaction, and when one commits a DDL.
    private volatile TaskCompletionSource _bigBegun = Signal(), _ddlCommitted = Signal();
    private int _limit = int.MaxValue;
    private int _wanted;   // a Want a kill waits for

    private static class Want
    {
        public const int Ddl = 1, Big = 2;
    }
    private bool _keepWork;

    public DifferentialRun(int seed, Switches switches, RunSize size, int postgresVersion, Action<string> log)
    {
        _seed = seed;
        _switches = switches;
        _size = size;
        _log = log;
        _pg = new PostgresHarness(postgresVersion);
    }

    public string Describe => $"seed {_seed}, {_size.Transactions} transactions, PostgreSQL {_pg.Version}, switches {_switches}";

    public async Task<Divergences> RunAsync()
    {
        _log($"differential run: {Describe} (reproduce: PGRELAY_DIFF_SEED={_seed} PGRELAY_DIFF_SWITCHES={_switches})");
        await _pg.StartAsync();
        _source = await _pg.NewDatabaseAsync("diff");
        _target = await _pg.NewDatabaseAsync("sink");
        await CreateSchemaAsync();

        using var stop = new CancellationTokenSource(RunSize.HangGuard);
        var workers = Enumerable.Range(0, _switches.Workers).Select(w => Task.Run(() => WorkerAsync(w, stop.Token))).ToList();
        await ControlAsync(stop.Token);
        await Task.WhenAll(workers);
        Step($"workload done: {string.Join(", ", _outcomes.OrderBy(o => o.Key).Select(o => $"{o.Key} {o.Value}"))}");

        var divergences = new Divergences();
        await SyncAsync(divergences);
        await CompareAsync(divergences);
        Step($"compared: {divergences.Count} divergences");
        if (divergences.Count > 0)
        {
            var report = Path.Combine(Path.GetTempPath(), $"pgrelay-diff-{_seed}-{DateTime.UtcNow:yyyyMMddHHmmss}.txt");
            await File.WriteAllTextAsync(report, $"{Describe}\n\n{divergences.Full()}\n\n--- pgrelay output ---\n{PgrelayOutput()}");
            _log($"full report: {report}; the sinks' files and state are kept in {_work}");
            _keepWork = true;
        }
        return divergences;
    }

    public string PgrelayOutput()
    {
        lock (_pgrelayOutput) return _pgrelayOutput + (_pgrelay is null ? "" : _pgrelay.Output);
    }

    // ---------------------------------------------------------------- schema and workload

    private async Task CreateSchemaAsync()
    {
        var rng = new Random(_seed);
        var shapes = new List<KeyShape> { KeyShape.Int, KeyShape.Text, KeyShape.Composite };
        if (_switches.NoPkTables) shapes.Add(KeyShape.None);
        var sql = new StringBuilder($"CREATE TABLE {Marker} (id int PRIMARY KEY);\nCREATE TABLE {Race} (id int PRIMARY KEY, at text NOT NULL);\n");
        foreach (var shape in shapes)
        {
            var types = Enum.GetValues<ColumnType>().Where(t => t != ColumnType.Toasted).ToList();
            var payload = Enumerable.Range(1, rng.Next(3, 7)).Select(i => new ColumnModel(i == 2 ? "Mixed Case" : $"c{i}", types[rng.Next(types.Count)])).ToList();
            if (shape == KeyShape.None) payload[0] = payload[0] with { Type = ColumnType.Int4 }; // a few values: duplicates
            if (rng.Next(2) == 0 || shape == KeyShape.Int) payload.Add(new ColumnModel("big", ColumnType.Toasted));
            var table = new TableModel("t_" + shape.ToString().ToLowerInvariant(), shape, payload, Published: true);
            _model.Add(table);
            sql.Append(TransactionGenerator.CreateTable(table));
        }
        sql.Append($"CREATE PUBLICATION {Publication} FOR TABLE {Marker}, {Race}, {string.Join(", ", _model.Tables.Select(t => t.Quoted))};\n");
        await _pg.ExecuteAsync(_source, sql.ToString());
        var seeder = new TransactionGenerator(rng, _switches with { KeyChanges = false }, _model);
        foreach (var table in _model.Tables)
            await _pg.ExecuteAsync(_source, string.Join(";\n", seeder.Seed(table, _size.SeedRows)));
        // No PRUNE record may sit at the consistent point by accident (issue 10 item 1 says why that matters).
        await _pg.ExecuteAsync(_source, "VACUUM");
        Step($"schema: {string.Join("; ", _model.Tables.Select(t => $"{t.Name}({string.Join(", ", t.KeyColumnNames.Concat(t.Payload.Select(c => $"{c.Name} {c.SqlType}")))})"))}");
    }

    private async Task WorkerAsync(int worker, CancellationToken ct)
    {
        var rng = new Random(_seed * 7919 + worker);
        var generator = new TransactionGenerator(rng, _switches, _model);
        NpgsqlConnection? conn = null;
        try
        {
            while (true)
            {
                await _gate.Task.WaitAsync(ct);
                // A kill ahead waits for the workload to reach it: the workers go no further than its window.
                while (Volatile.Read(ref _started) >= Volatile.Read(ref _limit)) await Task.Delay(10, ct);
                if (Interlocked.Increment(ref _started) > _size.Transactions) return;
                // A kill waiting for its moment asks for it: the next transaction of some worker is a DDL or a big one.
                int want = Interlocked.Exchange(ref _wanted, 0);
                var item = want switch
                {
                    Want.Ddl => generator.NextDdl(),
                    Want.Big => generator.NextBig(),
                    _ => generator.Next(),
                };
                var body = item.Sql.TrimEnd().TrimEnd(';');
                var sql = item.InTransaction ? $"BEGIN;\n{body};\n{(item.Rollback ? "ROLLBACK" : "COMMIT")};" : body;
                string outcome;
                try
                {
                    conn ??= await _pg.OpenAsync(_source);
                    await using var cmd = new NpgsqlCommand(sql, conn) { CommandTimeout = 120 };
                    var running = cmd.ExecuteNonQueryAsync(ct);
                    if (item.Kind == "big") _bigBegun.TrySetResult();
                    await running;
                    outcome = item.Rollback ? $"{item.Kind} rolled back" : $"{item.Kind} committed";
                    if (!item.Rollback) item.OnSuccess?.Invoke(_model);
                    if (!item.Rollback && item.Kind is "ddl" or "publication") _ddlCommitted.TrySetResult();
                }
                catch (PostgresException e)
                {
                    // Expected now and then: deadlocks between workers, a statement written against a column another
                    // worker just dropped, a retype that does not fit. The database rolled it back; it is still the truth.
                    outcome = $"{item.Kind} failed {e.SqlState}";
                    try { await using var rollback = new NpgsqlCommand("ROLLBACK", conn); await rollback.ExecuteNonQueryAsync(ct); }
                    catch (Exception) { conn = await ReconnectAsync(conn); }
                }
                catch (Exception e) when (e is NpgsqlException or IOException or InvalidOperationException && !ct.IsCancellationRequested)
                {
                    outcome = $"{item.Kind} lost its connection";
                    conn = await ReconnectAsync(conn);
                }
                if (want == Want.Ddl && !outcome.EndsWith(" committed", StringComparison.Ordinal)) Interlocked.CompareExchange(ref _wanted, want, 0);   // ask again
                lock (_outcomes) _outcomes[outcome] = _outcomes.GetValueOrDefault(outcome) + 1;
                await Task.Delay(rng.Next(0, 25), ct); // spreads the workload over pgrelay's start-up, kill and restart
            }
        }
        finally
        {
            if (conn is not null) await conn.DisposeAsync();
        }
    }

    private static async Task<NpgsqlConnection?> ReconnectAsync(NpgsqlConnection? conn)
    {
        if (conn is not null) await conn.DisposeAsync();
        await Task.Delay(200); // PostgreSQL may be restarting; the next transaction opens a new connection
        return null;
    }

    /// <summary>The script of the run: when pgrelay starts, dies and comes back, and when PostgreSQL restarts.</summary>
    private async Task ControlAsync(CancellationToken ct)
    {
        int total = _size.Transactions;
        var kills = _switches.Kill9 ? KillPlan(new Random(_seed * 104729 + 9)) : [];
        Volatile.Write(ref _limit, kills.Find(k => k.After > 0)?.After ?? int.MaxValue);
        await ReachedAsync(total / 10, ct);
        if (_switches.StartupRaces) await WatchedAsync("start-up races", () => StartWithRacesAsync(ct), ct);
        else StartPgrelay();

        if (kills.Count > 0 && kills[0].After == 0)
        {
            await KillAsync(kills[0], ct);
            kills.RemoveAt(0);
            StartPgrelay();
        }

        // Let the workload run against a serving pgrelay for a while: hold the workers until it is ready.
        await ReachedAsync(total * 4 / 10, ct);
        await HoldWhileAsync(() => WatchedAsync("the first start-up", () => WaitReadyAsync(ct), ct));

        for (int i = 0; i < kills.Count; i++)
        {
            var kill = kills[i];
            Volatile.Write(ref _limit, kill.After);
            await ReachedAsync(kill.After, ct);
            await KillAsync(kill, ct);
            Volatile.Write(ref _limit, i + 1 < kills.Count ? kills[i + 1].After : int.MaxValue);
            await ReachedAsync(kill.RestartAfter, ct);
            if (kill.Moment == KillMoment.DuringCopy)
            {
                // A start that copies again (the state directory's checkpoint may not be usable) is killed once more.
                StartPgrelay();
                await KillAsync(kill, ct);
            }
            StartPgrelay();
        }
        if (_switches.PostgresRestart)
        {
            await ReachedAsync(total * 7 / 10, ct);
            Step("restart PostgreSQL");
            await _pg.Cluster.RestartAsync(ct);
        }
        await ReachedAsync(total * 8 / 10, ct);
        await HoldWhileAsync(() => WatchedAsync("the last start-up", () => WaitReadyAsync(ct), ct));
    }

    /// <summary>Where a kill -9 lands inside the running workload.</summary>
    private enum KillMoment
    {
        /// <summary>At a random transaction count, wherever pgrelay is.</summary>
        Anywhere,
        /// <summary>A random moment after a start, while it copies the tables (before it is ready).</summary>
        DuringCopy,
        /// <summary>While a worker's big transaction is being sent (streamed in pieces past logical_decoding_work_mem).</summary>
        DuringBigTransaction,
        /// <summary>Right after a worker committed an ALTER TABLE, VACUUM FULL or publication change.</summary>
        AfterDdl,
    }

    /// <param name="After">Transactions started before the kill's moment is looked for.</param>
    /// <param name="RestartAfter">Transactions started before pgrelay starts again.</param>
    /// <param name="Delay">A random wait after the moment, so that the kill lands at another point of it in every run.</param>
    /// <param name="WindowEnd">How far the workers may go before the kill happened: they wait at <paramref name="After"/>
    /// until the kill asked for its moment (a DDL or a big transaction next), then go on up to here.</param>
    private sealed record Kill(KillMoment Moment, int After, int RestartAfter, TimeSpan Delay, int WindowEnd);

    /// <summary>One to three kills, each of a moment the seed picks, spread over the workload after the first start-up's
    /// 40 % (a kill during the copy of the first start comes before it), all before 80 %, when the last start-up begins. The
    /// workers wait at a kill's window end until it happened, so that it lands inside the workload however fast it runs.</summary>
    private List<Kill> KillPlan(Random rng)
    {
        int total = _size.Transactions, count = rng.Next(1, 4);
        var kills = new List<Kill>();
        int from = total * 4 / 10 + 1, span = Math.Max(1, total * 4 / 10 / count), window = span;
        for (int i = 0; i < count; i++)
        {
            var moment = (KillMoment)rng.Next(4);
            int after = from + i * span + rng.Next(span / 2);
            int restart = Math.Min(total * 8 / 10, after + rng.Next(span / 2 + 1));
            var delay = TimeSpan.FromMilliseconds(moment switch
            {
                KillMoment.DuringCopy => rng.Next(0, 1500),
                KillMoment.DuringBigTransaction => rng.Next(0, 400),
                KillMoment.AfterDdl => rng.Next(0, 60),
                _ => 0,
            });
            kills.Add(new Kill(moment, i == 0 && moment == KillMoment.DuringCopy ? 0 : after, restart, delay, after + window));
        }
        Step($"kill -9 plan: {string.Join("; ", kills.Select(k => $"{k.Moment} after {k.After} (+{k.Delay.TotalMilliseconds:0} ms), restart after {k.RestartAfter}"))}");
        return kills;
    }

    /// <summary>Kills pgrelay at the kill's moment, or (bounded for CI) when the moment does not come within 15 s.</summary>
    private async Task KillAsync(Kill kill, CancellationToken ct)
    {
        using var bound = CancellationTokenSource.CreateLinkedTokenSource(ct);
        bound.CancelAfter(TimeSpan.FromSeconds(15));
        // The workers wait at the kill's start; its window opens once the moment was asked for.
        void Open() => Volatile.Write(ref _limit, Math.Max(Volatile.Read(ref _limit), kill.WindowEnd));
        string landed = kill.Moment.ToString();
        try
        {
            switch (kill.Moment)
            {
                case KillMoment.DuringCopy:
                    Open();
                    if (_pgrelay is null) StartPgrelay();
                    await WaitPhaseAsync("snapshotting", bound.Token);
                    break;
                case KillMoment.DuringBigTransaction:
                    _bigBegun = Signal();
                    Volatile.Write(ref _wanted, Want.Big);
                    Open();
                    await _bigBegun.Task.WaitAsync(bound.Token);
                    break;
                case KillMoment.AfterDdl:
                    _ddlCommitted = Signal();
                    Volatile.Write(ref _wanted, Want.Ddl);
                    Open();
                    await _ddlCommitted.Task.WaitAsync(bound.Token);
                    break;
                default:
                    Open();
                    break;
            }
            await Task.Delay(kill.Delay, bound.Token);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            landed += " (did not come within 15 s: killed anyway)";
        }
        Volatile.Write(ref _wanted, 0);
        Step($"kill -9 pgrelay: {landed}, pgrelay {await PhaseAsync()}, {Volatile.Read(ref _started)} transactions started");
        KillPgrelay();
    }

    /// <summary>Until /status shows the phase (or pgrelay is ready already: the copy was too quick to see).</summary>
    private async Task WaitPhaseAsync(string phase, CancellationToken ct)
    {
        using var http = Http();
        await WaitAsync(async () =>
        {
            try
            {
                using var status = System.Text.Json.JsonDocument.Parse(await http.GetStringAsync("/status", ct));
                return status.RootElement.GetProperty("phase").GetString() == phase || status.RootElement.GetProperty("ready").GetBoolean();
            }
            catch (HttpRequestException) { return false; }
        }, $"pgrelay's {phase} phase", ct);
    }

    /// <summary>What /status says pgrelay is doing, for the log (best effort: it may not answer yet).</summary>
    private async Task<string> PhaseAsync()
    {
        try
        {
            using var http = Http();
            http.Timeout = TimeSpan.FromSeconds(2);
            using var status = System.Text.Json.JsonDocument.Parse(await http.GetStringAsync("/status"));
            return status.RootElement.GetProperty("phase").GetString() + (status.RootElement.GetProperty("ready").GetBoolean() ? ", ready" : ", not ready");
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or System.Text.Json.JsonException)
        {
            return "not answering";
        }
    }

    private static TaskCompletionSource Signal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>
    /// Runs a step of the script; if it takes longer than 20 s, logs who waits for whom in PostgreSQL (every session's wait
    /// event and blocking pids, the locks not granted), once, so that a lock cycle between the script and the workers or
    /// pgrelay shows in the test output instead of as a silent stall.
    /// </summary>
    private async Task WatchedAsync(string step, Func<Task> action, CancellationToken ct)
    {
        using var done = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var watch = Task.Run(async () =>
        {
            try
            {
                await Task.Delay(TimeSpan.FromSeconds(20), done.Token);
                Step($"{step} takes over 20 s; PostgreSQL's sessions and waiting locks:\n{await WhoWaitsAsync()}");
            }
            catch (OperationCanceledException) { }
            catch (Exception e) when (e is NpgsqlException or IOException) { Step($"{step} takes over 20 s; no lock dump: {e.Message}"); }
        }, CancellationToken.None);
        try { await action(); }
        finally
        {
            done.Cancel();
            await watch;
        }
    }

    private async Task<string> WhoWaitsAsync()
    {
        await using var conn = await _pg.OpenAsync(_source);   // relation names resolve in the source database
        var text = new StringBuilder();
        await using (var cmd = new NpgsqlCommand("""
            SELECT pid, coalesce(backend_type, ''), coalesce(state, ''), coalesce(wait_event_type || ':' || wait_event, ''),
                   pg_blocking_pids(pid)::text, coalesce(round(extract(epoch FROM now() - xact_start))::text, ''),
                   left(regexp_replace(coalesce(query, ''), '\s+', ' ', 'g'), 120)
            FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND (datname IS NOT NULL OR backend_type = 'walsender')
            ORDER BY pid
            """, conn))
        await using (var r = await cmd.ExecuteReaderAsync())
            while (await r.ReadAsync())
                text.Append($"  pid {r.GetInt32(0)} {r.GetString(1)} {r.GetString(2)} wait {r.GetString(3)} blocked by {r.GetString(4)} " +
                            $"xact {r.GetString(5)}s: {r.GetString(6)}\n");
        await using (var cmd = new NpgsqlCommand("""
            SELECT pid, locktype, mode, coalesce(relation::regclass::text, transactionid::text, virtualxid, '')
            FROM pg_locks WHERE NOT granted ORDER BY pid
            """, conn))
        await using (var r = await cmd.ExecuteReaderAsync())
            while (await r.ReadAsync())
                text.Append($"  waiting: pid {r.GetInt32(0)} {r.GetString(1)} {r.GetString(2)} on {r.GetString(3)}\n");
        return text.ToString();
    }

    /// <summary>
    /// Issue 10 item 1's order around the slot's creation: X is open when pgrelay starts (the slot waits for it), Y opens,
    /// X commits, Z opens, Y commits, Z commits a moment later.
    /// <para>X, Y and Z write a table of their own. On a workload table they stalled the run for two minutes: a worker's
    /// TRUNCATE (or ALTER TABLE) queued behind X's lock, Y's insert queued behind the TRUNCATE, and X waited for Y (this
    /// script), until the TRUNCATE's command timeout broke the cycle (seen with <see cref="WatchedAsync"/>'s lock dump).</para>
    /// </summary>
    private async Task StartWithRacesAsync(CancellationToken ct)
    {
        async Task<NpgsqlConnection> OpenWithInsertAsync(int id)
        {
            var conn = await _pg.OpenAsync(_source);
            await using var cmd = new NpgsqlCommand($"BEGIN; INSERT INTO {Race} VALUES ({id}, '{(char)('X' + id - 1)}')", conn);
            await cmd.ExecuteNonQueryAsync(ct);
            return conn;
        }
        async Task CommitAsync(NpgsqlConnection conn)
        {
            await using (var cmd = new NpgsqlCommand("COMMIT", conn)) await cmd.ExecuteNonQueryAsync(ct);
            await conn.DisposeAsync();
        }
        var x = await OpenWithInsertAsync(1);
        StartPgrelay();
        await WaitForSlotCreationAsync(ct);
        var y = await OpenWithInsertAsync(2);
        await CommitAsync(x);
        var z = await OpenWithInsertAsync(3);
        await CommitAsync(y);
        await Task.Delay(300, ct);
        await CommitAsync(z);
        Step("start-up races committed (X, Y, Z)");
    }

    private async Task WaitForSlotCreationAsync(CancellationToken ct)
    {
        // pgrelay's walsender shows CREATE_REPLICATION_SLOT while it waits for X. Not every start-up path gets there
        // while X is open (one that waits on X earlier never does), so after a while the race goes on regardless:
        // the order of X, Y and Z around pgrelay's start is what matters, not the exact instant.
        for (var until = DateTime.UtcNow.AddSeconds(10); DateTime.UtcNow < until; await Task.Delay(50, ct))
            if (await _pg.ScalarAsync<long>(_source, "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'CREATE_REPLICATION_SLOT%'") > 0) return;
        Step("pgrelay did not ask for its slot within 10 s; the start-up race goes on");
    }

    private Task ReachedAsync(int transactions, CancellationToken ct) =>
        WaitAsync(() => Volatile.Read(ref _started) >= Math.Min(transactions, _size.Transactions), $"{transactions} transactions", ct);

    private async Task HoldWhileAsync(Func<Task> action)
    {
        _gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        try { await action(); }
        finally { _gate.TrySetResult(); }
    }

    private static TaskCompletionSource Open()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        gate.SetResult();
        return gate;
    }

    // ---------------------------------------------------------------- the pgrelay process

    private string[] PgrelayArguments()
    {
        var args = new List<string>
        {
            "run", "--source", _pg.Cluster.UrlFor(_source), "--publication", Publication,
            "--http", $"127.0.0.1:{_httpPort}", "--resp", $"127.0.0.1:{_respPort}", "--memcached", "off",
            "--heartbeat", "1s", "--publication-poll", "1s", "--log-level", "Information",
        };
        if (_switches.Sinks)
        {
            args.AddRange(["--state-dir", Path.Combine(_work, "state"), "--sink", $"file:{Path.Combine(_work, "changes.jsonl")}",
                "--sink", $"postgres:{_pg.Cluster.UrlFor(_target)}"]);
        }
        return args.ToArray();
    }

    private void StartPgrelay()
    {
        Step("start pgrelay");
        _pgrelay = PgrelayProcess.Start(PgrelayArguments());
    }

    private void KillPgrelay()
    {
        if (_pgrelay is null) return;
        _pgrelay.Kill9();
        lock (_pgrelayOutput) _pgrelayOutput.Append("--- killed with -9 ---\n").Append(_pgrelay.Output);
        _pgrelay = null;
    }

    private async Task WaitReadyAsync(CancellationToken ct)
    {
        using var http = Http();
        await WaitAsync(async () =>
        {
            if (_pgrelay is { HasExited: true }) throw new InvalidOperationException($"pgrelay exited with {_pgrelay.ExitCode}:\n{PgrelayOutput()}");
            try { return (await http.GetAsync("/readyz", ct)).StatusCode == HttpStatusCode.OK; }
            catch (HttpRequestException) { return false; }
        }, "pgrelay to be ready", ct);
        Step("pgrelay ready");
    }

    private HttpClient Http() => new() { BaseAddress = new Uri($"http://127.0.0.1:{_httpPort}"), Timeout = TimeSpan.FromSeconds(60) };

    // ---------------------------------------------------------------- comparing

    /// <summary>
    /// A marker row committed after everything else: once a reader has it, it has every transaction before it, since
    /// pgrelay applies transactions whole and in commit order. Tables being loaded beside the stream (DDL, publication
    /// changes) are swapped in at a later transaction of their own, so the marker is written once none is in flight. A
    /// sink has everything up to the marker once its checkpoint reached the marker's version (its end LSN): a sink that
    /// starts over loads the marker's table early but checkpoints only at the end of the whole load.
    /// </summary>
    private async Task SyncAsync(Divergences d)
    {
        using var guard = new CancellationTokenSource(RunSize.HangGuard);
        await WaitReadyAsync(guard.Token);
        using var http = Http();
        string version;
        while (true)
        {
            // ALTER PUBLICATION is not in the stream: only the publication watcher's look finds a table added or removed.
            // Two completed looks after this point mean one began after every membership change of the workload.
            long checks = await PublicationChecksAsync(http, guard.Token);
            await WaitAsync(async () => await PublicationChecksAsync(http, guard.Token) >= checks + 2,
                "two looks at the publications after the workload", guard.Token);
            await WaitAsync(() => NoLoadsInFlightAsync(http, guard.Token), "loads beside the stream to finish", guard.Token);
            int marker = ++_markers;
            await _pg.ExecuteAsync(_source, $"INSERT INTO {Marker} VALUES ({marker})");
            HttpResponseMessage? found = null;
            await WaitAsync(async () => (found = await http.GetAsync($"/{Publication}/{Marker}/{marker}", guard.Token)).StatusCode == HttpStatusCode.OK,
                "the cache to apply the marker", guard.Token);
            version = found!.Headers.ETag!.Tag.Trim('"');
            // A load that began meanwhile may be swapped in after the marker: write another one once it is done.
            if (await NoLoadsInFlightAsync(http, guard.Token)) break;
        }
        if (_switches.Sinks)
        {
            // A sink that never catches up is a divergence of its own; the other readers are still compared.
            var target = Pgrelay.Core.Model.Lsn.Parse(version);
            using var sinkGuard = new CancellationTokenSource(TimeSpan.FromSeconds(90));
            foreach (var sink in new[] { "file", "postgres" })
            {
                try
                {
                    await WaitAsync(async () => await SinkCheckpointAsync(http, sink, sinkGuard.Token) >= target,
                        $"the {sink} sink's checkpoint to reach the marker at {version}", sinkGuard.Token);
                }
                catch (TimeoutException e)
                {
                    d.Add($"{sink} sink", $"never caught up: {e.Message}; pgrelay log tail:\n{Tail(PgrelayOutput(), 15)}");
                }
            }
        }
        // The HTTP listing's sorted key index is rebuilt at most once a second (docs/http.md).
        await Task.Delay(1500, guard.Token);
        Step("synced");
    }

    private static async Task<long> PublicationChecksAsync(HttpClient http, CancellationToken ct)
    {
        using var status = System.Text.Json.JsonDocument.Parse(await http.GetStringAsync("/status", ct));
        return status.RootElement.GetProperty("replication").GetProperty("publication_checks").GetInt64();
    }

    private static async Task<bool> NoLoadsInFlightAsync(HttpClient http, CancellationToken ct)
    {
        using var status = System.Text.Json.JsonDocument.Parse(await http.GetStringAsync("/status", ct));
        return status.RootElement.GetProperty("reloads").GetArrayLength() == 0;
    }

    /// <summary>The sink's durable checkpoint as /status shows it (zero while it has none).</summary>
    private static async Task<Pgrelay.Core.Model.Lsn> SinkCheckpointAsync(HttpClient http, string sink, CancellationToken ct)
    {
        using var status = System.Text.Json.JsonDocument.Parse(await http.GetStringAsync("/status", ct));
        foreach (var checkpoint in status.RootElement.GetProperty("sinks").GetProperty("checkpoints").EnumerateArray())
            if (checkpoint.GetProperty("name").GetString() == sink)
                return Pgrelay.Core.Model.Lsn.Parse(checkpoint.GetProperty("acknowledged_lsn").GetString()!);
        return Pgrelay.Core.Model.Lsn.Zero;
    }

    private static string Tail(string text, int lines) => string.Join("\n", text.Split('\n').TakeLast(lines));

    private async Task CompareAsync(Divergences d)
    {
        await using var source = await _pg.OpenAsync(_source);
        var tables = await DatabaseTruth.ReadAsync(source, Publication, new HashSet<string> { Marker });
        var published = tables.Select(t => t.Name).ToHashSet();

        using var redis = await ConnectionMultiplexer.ConnectAsync($"127.0.0.1:{_respPort},allowAdmin=true,connectTimeout=10000,syncTimeout=60000");
        var resp = new RespReader(redis);
        using var httpClient = Http();
        var http = new HttpReader(httpClient);
        foreach (var table in tables)
        {
            Comparison.Resp(table, await resp.ReadAsync(Publication, table.Name), d);
            if (table.HasKey)
                foreach (var row in table.Rows)
                    Comparison.HttpRow(table, row, await http.GetRowAsync(Publication, table.Name, table.KeyColumns.Select(k => row.Text[table.Index(k)]!)), d);
            Comparison.HttpListing(table, await http.ListAsync(Publication, table.Name), d);
        }
        // A table dropped from the publication must not be served any more.
        foreach (var gone in _model.Tables.Select(t => t.Name).Where(n => !published.Contains(n)))
        {
            var served = await resp.ReadAsync(Publication, gone);
            if (served.Count > 0) d.Add("RESP", $"{gone}: not in the publication any more, still serves {served.Count} rows");
            var listed = await http.ListAsync(Publication, gone);
            if (listed is { Count: > 0 }) d.Add("HTTP listing", $"{gone}: not in the publication any more, still lists {listed.Count} rows");
        }

        if (_switches.Sinks)
        {
            await using var target = await _pg.OpenAsync(_target);
            foreach (var table in tables) Comparison.PostgresSink(table, await PostgresSinkReader.ReadAsync(target, table), d);
            var keys = tables.ToDictionary(t => t.Name, t => (IReadOnlyList<string>)t.KeyColumns);
            keys[Marker] = ["id"];
            var replay = FileSinkReplay.Read(_work, "changes.jsonl", name => keys.GetValueOrDefault(name));
            foreach (var problem in replay.Problems) d.Add("file sink", problem);
            foreach (var table in tables) Comparison.FileSink(table, replay, columnsMayBeMissing: _switches.Ddl, d);
            Step($"file sink: {replay.Events} events");
        }
        Step($"compared {tables.Sum(t => t.Rows.Count)} rows in {tables.Count} tables");
    }

    // ---------------------------------------------------------------- helpers

    private static async Task WaitAsync(Func<bool> condition, string what, CancellationToken ct) =>
        await WaitAsync(() => Task.FromResult(condition()), what, ct);

    private static async Task WaitAsync(Func<Task<bool>> condition, string what, CancellationToken ct)
    {
        try
        {
            while (!await condition()) await Task.Delay(50, ct);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            throw new TimeoutException($"gave up waiting for {what} (hang guard)");
        }
    }

    private void Step(string what) => _log($"[{_clock.Elapsed.TotalSeconds,6:0.0}s] {what}");

    public async ValueTask DisposeAsync()
    {
        if (_pgrelay is not null)
        {
            await _pgrelay.DisposeAsync();
            lock (_pgrelayOutput) _pgrelayOutput.Append(_pgrelay.Output);
            _pgrelay = null;
        }
        await _pg.DisposeAsync();
        if (!_keepWork)
            try { Directory.Delete(_work, recursive: true); } catch (IOException) { }
    }
}
