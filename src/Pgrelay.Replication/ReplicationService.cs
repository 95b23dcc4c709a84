using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Npgsql;
using Npgsql.Replication;
using Pgrelay.Core.Changes;
using Pgrelay.Core.Checkpoints;
using Pgrelay.Core.Model;
using Pgrelay.Core.Status;
using Pgrelay.Replication.Checkpoints;
using Pgrelay.Replication.Connection;
using Pgrelay.Replication.Reloads;
using Pgrelay.Replication.Schema;
using Pgrelay.Replication.Slots;
using Pgrelay.Replication.Snapshot;
using Pgrelay.Replication.Streaming;

namespace Pgrelay.Replication;

/// <summary>
/// Keeps an <see cref="IReplicationTarget"/> equal to the source's published tables:
/// preflight, slot with exported snapshot, introspection and parallel copy inside that snapshot,
/// then pgoutput streaming from the slot's consistent point, reconnecting with back-off when the
/// connection drops. No gap, no duplicate: the stream starts exactly where the snapshot ends, and
/// transactions replayed after a reconnect are at or below the target's applied LSN.
/// <para>The slot is this instance's own (<see cref="InstanceSlot"/>); every attach checks it still holds what the target
/// lacks (<see cref="SlotPosition"/>), and a fresh snapshot is taken when it does not. Tables added to or removed from the
/// publications, or reshaped by DDL, are loaded or removed beside the running stream (<see cref="TableReloads"/>).</para>
/// </summary>
public sealed class ReplicationService
{
    private readonly ReplicationOptions _options;
    private readonly IReplicationTarget _target;
    private readonly ReplicationStatus _status;
    private readonly ILogger _log;
    private readonly SourceOptions _source;
    private readonly InstanceSlot _slot;
    private readonly SlotPosition _position = new();
    private readonly SlotRetentionMonitor _retention;
    private Task<PreflightResult>? _preflightDone;
    private bool _startupLogged;
    private readonly ICheckpointStore? _checkpoints;

    /// <param name="checkpoints">The store's checkpoints on disk: start from the newest usable one instead of copying.</param>
    public ReplicationService(ReplicationOptions options, IReplicationTarget target, ReplicationStatus status, ILoggerFactory loggerFactory,
        ICheckpointStore? checkpoints = null)
    {
        _checkpoints = checkpoints is { Enabled: true } ? checkpoints : null;
        options.Validate();
        _options = options;
        _target = target;
        _status = status;
        _log = loggerFactory.CreateLogger("Pgrelay.Replication");
        _source = SourceOptions.Parse(options.Source);
        _slot = InstanceSlot.Resolve(options.SlotName, _source.Database, options.StateDirectory);
        _status.SlotName = _slot.Name;
        _retention = new SlotRetentionMonitor(_source, _slot.Name, options.SlotRetentionWarningBytes, status, _log);
    }

    public string SlotName => _slot.Name;
    public SourceOptions Source => _source;

    /// <summary>Checks the source without changing anything; throws <see cref="ReplicationSetupException"/> with one line.</summary>
    public async Task<PreflightResult> PreflightAsync(CancellationToken ct = default)
    {
        var result = await Preflight.RunAsync(_source, _options.Publications.ToList(), ct).ConfigureAwait(false);
        Adopt(result);
        return result;
    }

    /// <summary>
    /// A preflight the caller just ran against the same source (the command line checks before it opens any port):
    /// the first start-up uses it instead of asking the server again. Later start-ups (after a failure) check afresh.
    /// </summary>
    public void UsePreflight(PreflightResult result)
    {
        Adopt(result);
        Volatile.Write(ref _preflightDone, Task.FromResult(result));
    }

    /// <summary>
    /// A preflight still running (the command line starts it, and this service, before the host is built): the first
    /// start-up reads the checkpoint beside it and uses its result when it comes. A failure it reports is the start-up's.
    /// </summary>
    public void UsePreflight(Task<PreflightResult> running) =>
        Volatile.Write(ref _preflightDone, running.ContinueWith(t =>
        {
            var result = t.GetAwaiter().GetResult();   // rethrows the preflight's failure as it came (not wrapped)
            Adopt(result);
            return result;
        }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default));

    private void Adopt(PreflightResult result)
    {
        _status.ServerVersionNum = result.ServerVersionNum;
        _status.ProtocolVersion = result.ProtocolVersion;
        _source.ServerVersionNum = result.ServerVersionNum;
    }

    /// <summary>
    /// Runs until cancelled. Setup problems the user must fix throw <see cref="ReplicationSetupException"/>;
    /// connection problems are retried forever with back-off.
    /// </summary>
    /// <param name="beforeServing">Completes when the process serves (its listeners are open): streaming, and the start-up's
    /// "serving" line, wait for it, so sinks and subscribers registered by the host see every change. The start-up itself (the
    /// checks, the checkpoint load or the snapshot copy) runs at once, beside the host's own start.</param>
    public async Task RunAsync(CancellationToken ct, Task? beforeServing = null)
    {
        var backoff = new Backoff(_options.ReconnectInitialDelay, _options.ReconnectMaxDelay);
        bool leftoversChecked = false;
        // Until the first start-up succeeds: since when the source has been failing (source-wait bounds it).
        long? failingSince = null;
        bool startedOnce = false;
        using var stopMonitor = CancellationTokenSource.CreateLinkedTokenSource(ct);
        Task? monitor = null;
        try
        {
            while (true)
            {
                ct.ThrowIfCancellationRequested();
                StartedUp started;
                PreflightResult preflight;
                LogicalReplicationConnection? conn = null;
                CheckpointPreload? preload = null;
                try
                {
                    _status.Phase = ReplicationPhase.Starting;
                    // A store that never held data starts from the newest usable checkpoint, with no copy: its pages are read
                    // beside the checks (preflight included), and become visible only once they passed.
                    CheckpointInfo? checkpoint = null;
                    string? corrupt = null;
                    if (_checkpoints is not null && _target.AppliedLsn == Lsn.Zero) checkpoint = _checkpoints.Newest(out corrupt);
                    if (checkpoint is not null) preload = CheckpointPreload.Start(_checkpoints!, checkpoint);
                    try
                    {
                        preflight = await (Interlocked.Exchange(ref _preflightDone, null) ?? PreflightAsync(ct)).ConfigureAwait(false);
                    }
                    catch
                    {
                        if (preload is not null) await preload.AbandonAsync().ConfigureAwait(false);
                        throw;
                    }
                    // Looks that feed nothing the store loads run beside the start-up; it waits for them only before it
                    // touches the slot (the retention reading says what the slot held while nobody read it).
                    var leftovers = leftoversChecked ? Task.FromResult(true) : WarnAboutLeftoverSlotsAsync(ct);
                    var retentionAtStart = monitor is null ? _retention.ReadAtStartAsync(ct) : Task.CompletedTask;
                    var beforeSlotChanges = Task.WhenAll(leftovers, retentionAtStart);
                    try
                    {
                        started = await StartUpAsync(preflight, checkpoint, corrupt, preload, beforeSlotChanges, ct).ConfigureAwait(false);
                    }
                    catch
                    {
                        // The start-up's own failure is the one to report; theirs (if any) only needs observing.
                        await beforeSlotChanges.ContinueWith(static t => _ = t.Exception, TaskScheduler.Default).ConfigureAwait(false);
                        StartMonitorOnce();
                        throw;
                    }
                    // Done: the start-up waited for them before it touched the slot.
                    leftoversChecked = await leftovers.ConfigureAwait(false);
                    StartMonitorOnce();

                    // The reading at start is taken once; then every interval.
                    void StartMonitorOnce()
                    {
                        if (monitor is null && retentionAtStart.IsCompletedSuccessfully)
                            monitor = Task.Run(() => _retention.RunAsync(_options.SlotCheckInterval, stopMonitor.Token), CancellationToken.None);
                    }
                    conn = started.Connection;
                    if (beforeServing is not null) await beforeServing.WaitAsync(ct).ConfigureAwait(false);
                    _retention.ReadSoon();
                    if (!_startupLogged)
                    {
                        _status.Startup.Mark("served");   // a snapshot's start-up; a checkpoint's marked it as the load ended
                        _startupLogged = true;
                        _log.LogInformation("serving; start-up took {Timeline} (ms since the process started)", _status.Startup);
                    }
                }
                catch (Exception e) when (IsRetryable(e, ct))
                {
                    if (conn is not null) await conn.DisposeAsync().ConfigureAwait(false);
                    if (preload is not null) await preload.AbandonAsync().ConfigureAwait(false);
                    if (!startedOnce)
                    {
                        failingSince ??= Environment.TickCount64;
                        if (_options.SourceWait > TimeSpan.Zero && Environment.TickCount64 - failingSince >= _options.SourceWait.TotalMilliseconds)
                            throw new ReplicationSetupException(
                                $"gave up after waiting {_options.SourceWait.TotalSeconds:0.#}s for the source (source-wait): {(e is ReplicationSetupException ? e.Message : Preflight.Describe(e))}", e);
                    }
                    await FailedAsync("start-up", e, backoff, ct).ConfigureAwait(false);
                    continue;
                }
                startedOnce = true;
                backoff.Reset();

                // Tables added to the publications, removed from them, or reshaped by DDL are loaded beside the stream.
                await using var reloads = new TableReloads(_source, _options, _target, _status, _log, started.Held, started.Membership);
                reloads.Start();
                _checkpoints?.SetSource(started.Source, reloads.MembershipTokens);

                // Streaming: the first session reuses the connection that created the slot.
                bool restartFromScratch = false;
                while (!restartFromScratch)
                {
                    try
                    {
                        conn ??= await OpenReplicationAsync(ct).ConfigureAwait(false);
                        var session = new StreamingSession(_source, _options, _target, _status, started.Catalog, reloads, _position, _log);
                        await session.RunAsync(conn, _slot.Name, preflight.ProtocolVersion, ct).ConfigureAwait(false);
                    }
                    catch (Exception e) when (IsRetryable(e, ct))
                    {
                        if (NeedsFreshSnapshot(e) is { } reason)
                        {
                            // Loud: the cache keeps serving what it has, consistent but old, until the new snapshot replaces it.
                            _log.LogError("{Reason}; taking a fresh snapshot", reason);
                            _status.CountResnapshot(reason);
                            restartFromScratch = true;
                        }
                        await FailedAsync("replication", e, backoff, ct).ConfigureAwait(false);
                    }
                    finally
                    {
                        if (conn is not null) await conn.DisposeAsync().ConfigureAwait(false);
                        conn = null;
                    }
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            _status.Phase = ReplicationPhase.Stopped;
            // Checkpoints resume the slot: it outlives the stop.
            if (_options.DropSlotOnStop && _slot.IsOwned && (_checkpoints is null || _checkpoints.Newest(out _) is null))
                await DropSlotOnStopAsync().ConfigureAwait(false);
            throw;
        }
        catch (Exception e)
        {
            _status.Phase = ReplicationPhase.Failed;
            _status.LastError = e.Message;
            throw;
        }
        finally
        {
            stopMonitor.Cancel();
            if (monitor is not null)
                try { await monitor.ConfigureAwait(false); }
                catch (OperationCanceledException) { }
        }
    }

    /// <summary>Why the slot can no longer give the store what it lacks, or null when reconnecting is enough.</summary>
    private string? NeedsFreshSnapshot(Exception e) => e switch
    {
        SlotMovedException moved => moved.Message,
        PostgresException { SqlState: PostgresErrorCodes.UndefinedObject } => $"slot {_slot.Name} is gone ({Preflight.Describe(e)})",
        // "can no longer get changes from replication slot": invalidated (max_slot_wal_keep_size, or removed WAL).
        PostgresException { SqlState: PostgresErrorCodes.ObjectNotInPrerequisiteState } pg when pg.MessageText.Contains("replication slot") =>
            $"slot {_slot.Name} was invalidated ({pg.MessageText})",
        InvalidDataException => $"could not decode the replication stream ({e.Message})",
        _ => null,
    };

    private sealed record StartedUp(LogicalReplicationConnection? Connection, RelationCatalog Catalog, IReadOnlyList<TableSchema> Held,
        IReadOnlyDictionary<uint, PublishedRelation> Membership)
    {
        /// <summary>Who checkpoints written from here on are for.</summary>
        public CheckpointSource Source { get; init; } = null!;
    }

    /// <summary>Slot with exported snapshot, introspection and copy inside it, CompleteSnapshot. Returns the still-open replication
    /// connection (null when streaming resumes a kept slot on a new one). <paramref name="beforeSlotChanges"/> is awaited before
    /// the slot is touched (and before returning).</summary>
    /// <param name="preload">The checkpoint's load, started beside the checks; published or abandoned before this returns or throws.</param>
    private async Task<StartedUp> StartUpAsync(PreflightResult preflight, CheckpointInfo? checkpoint, string? corrupt, CheckpointPreload? preload,
        Task beforeSlotChanges, CancellationToken ct)
    {
        // The looks at the source that the start-up's decision needs go at once, each on its own connection: IDENTIFY_SYSTEM,
        // the slot, and (with a checkpoint to check) the publications' schemas now. One round trip of waiting, not three.
        var identify = IdentifyAsync(ct);
        var findSlot = FindSlotAsync(ct);
        var catalog = checkpoint is not null ? ReadCatalogAsync(preflight, ct) : null;
        LogicalReplicationConnection? conn = null;
        try
        {
            try
            {
                await Task.WhenAll(catalog is null ? [identify, findSlot] : [identify, findSlot, catalog]).ConfigureAwait(false);
            }
            finally
            {
                if (identify.IsCompletedSuccessfully) conn = identify.Result.Connection;
            }
            var (replication, system) = identify.Result;
            var existing = findSlot.Result;
            _status.Startup.Mark("source checked");
            var source = new CheckpointSource(system.SystemId, system.DbName ?? _source.Database, _slot.Name, new Dictionary<uint, string>());
            // Sinks' checkpoints on this slot make it this instance's too (they were written while streaming from it).
            bool owned = _slot.IsOwned || _options.KeepSlot;
            if (existing is not null && !owned)
                throw new ReplicationSetupException(existing.Value.ActivePid is { } user
                    ? $"slot: {_slot.Name} is in use by another process (pid {user}); each pgrelay instance needs a slot of its own: omit --slot to get one"
                    : $"slot: {_slot.Name} already exists and this instance did not create it; omit --slot to get a slot of this instance's own, or drop it (SELECT pg_drop_replication_slot('{_slot.Name}')) if nothing needs it");
            // A store that never held data starts from the newest usable checkpoint, with no copy.
            if (_checkpoints is not null && _target.AppliedLsn == Lsn.Zero)
            {
                if (checkpoint is null && corrupt is not null) Useless(_checkpoints, corrupt);
                if (checkpoint is not null && preload is not null &&
                    await TryResumeFromCheckpointAsync(_checkpoints, checkpoint, preload, source, existing, catalog!.Result, beforeSlotChanges, ct)
                        .ConfigureAwait(false) is { } resumed)
                {
                    await replication.DisposeAsync().ConfigureAwait(false);
                    return resumed with { Source = source };
                }
            }
            await beforeSlotChanges.ConfigureAwait(false);
            // A new snapshot (on a new slot, or the kept one at another position) makes any checkpoint on disk obsolete.
            _checkpoints?.Discard(null);
            if (_options.KeepSlot && existing is { Confirmed: { } confirmed } && (_options.ResumeFrom is not { } floor || confirmed <= floor))
            {
                await replication.DisposeAsync().ConfigureAwait(false);
                return await StartUpOnKeptSlotAsync(existing.Value.ActivePid, confirmed, preflight, ct).ConfigureAwait(false) with { Source = source };
            }
            if (_options.KeepSlot && existing is { Confirmed: { } beyond })
                _log.LogWarning("slot {Slot} is confirmed at {Confirmed}, past the oldest checkpoint {Checkpoint}: consumers behind it start over",
                    _slot.Name, beyond, _options.ResumeFrom);
            else if (_options.KeepSlot)
                _log.LogWarning("slot {Slot} does not exist: consumers with checkpoints start over from a new snapshot", _slot.Name);
            if (existing is not null) await DropExistingSlotAsync(replication, existing.Value.ActivePid, ct).ConfigureAwait(false);
            // The exported snapshot lives only while this connection stays idle, so it is left alone until the copy is done.
            var slot = await replication.CreatePgOutputReplicationSlot(_slot.Name, temporarySlot: false,
                slotSnapshotInitMode: LogicalSlotSnapshotInitMode.Export, cancellationToken: ct).ConfigureAwait(false);
            _slot.Created();
            var consistentPoint = new Lsn((ulong)slot.ConsistentPoint);
            var snapshotName = slot.SnapshotName ?? throw new InvalidOperationException("the server exported no snapshot");
            _status.ConsistentPoint = consistentPoint;
            _status.ConfirmedLsn = consistentPoint;
            _position.Reset(consistentPoint);
            _log.LogInformation("created slot {Slot} at {ConsistentPoint}, snapshot {Snapshot}", _slot.Name, consistentPoint, snapshotName);

            var (schema, membership) = await IntrospectAsync(snapshotName, preflight, ct).ConfigureAwait(false);
            _status.Phase = ReplicationPhase.Snapshotting;
            _target.BeginSnapshot(schema.Publications);
            var copier = new SnapshotCopier(_source, _options, _target, _status, _log);
            await copier.CopyAsync(snapshotName, schema.Tables, ct).ConfigureAwait(false);
            _target.CompleteSnapshot(consistentPoint);
            _status.AppliedLsn = _target.AppliedLsn;
            _log.LogInformation("snapshot complete: {Rows} rows in {Tables} tables", _status.SnapshotRowsCopied, schema.Tables.Count);
            var held = schema.Tables.Select(t => t.Schema).ToList();
            RecordHeld(consistentPoint, HeldMembership.TokensOf(held, membership));
            return new StartedUp(replication, new RelationCatalog(held), held, membership) { Source = source };
        }
        catch
        {
            if (conn is not null) await conn.DisposeAsync().ConfigureAwait(false);
            if (preload is not null) await preload.AbandonAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Loads the newest checkpoint when it is usable (<see cref="CheckpointUsability"/>) and returns the start-up that streams
    /// from the kept slot at its confirmed position C ≤ K: the store holds every commit below K, and the one rule applies
    /// every commit at or above it. Otherwise says why, loudly (ERROR, /status), and returns null for a fresh snapshot;
    /// when only the slot is unusable, the checkpoint's consistent data is served meanwhile.
    /// </summary>
    private async Task<StartedUp?> TryResumeFromCheckpointAsync(ICheckpointStore checkpoints, CheckpointInfo checkpoint, CheckpointPreload preload,
        CheckpointSource source,
        (int? ActivePid, Lsn? Confirmed, string? WalStatus)? slot, (SourceSchema Schema, Dictionary<uint, PublishedRelation> Membership) catalog,
        Task beforeSlotChanges, CancellationToken ct)
    {
        var (schema, membership) = catalog;
        var held = checkpoint.Publications.SelectMany(p => p.Tables).DistinctBy(t => t.RelationId).ToList();
        // Checked before the load publishes anything: data of another source, or of other publications, schemas, row
        // filters or held membership, is never served, not even for a moment.
        if ((CheckpointUsability.DataProblem(checkpoint, source, schema, membership)
             ?? MembershipProblem(checkpoint, HeldMembership.TokensOf(held, membership))) is { } data)
        {
            await preload.AbandonAsync().ConfigureAwait(false);
            Useless(checkpoints, data);
            return null;
        }
        var state = slot is { } s ? new CheckpointUsability.SlotState(s.Confirmed, s.WalStatus) : null;
        var slotProblem = CheckpointUsability.SlotProblem(checkpoint, _slot.Name, state)
                          ?? CheckpointUsability.SinkProblem(checkpoint, _options.ResumeFrom);
        try
        {
            await preload.PublishAsync().ConfigureAwait(false);
            // Served from here on: the data checks passed before the load, and the slot's state only decides how to go on.
            _status.Startup.Mark("checkpoint loaded");
            _status.Startup.Mark("served");
        }
        catch (CheckpointUnusableException e)
        {
            Useless(checkpoints, e.Message);
            return null;
        }
        if (slotProblem is not null)
        {
            // Consistent, old: served (resnapshotting) until the fresh snapshot replaces it.
            _status.AppliedLsn = _target.AppliedLsn;
            Useless(checkpoints, slotProblem);
            return null;
        }
        var confirmed = state!.Confirmed!.Value;
        await beforeSlotChanges.ConfigureAwait(false);
        if (slot!.Value.ActivePid is { } pid) await TerminateAsync(pid, ct).ConfigureAwait(false);   // a previous run's walsender
        _status.ConsistentPoint = checkpoint.Lsn;
        _status.ConfirmedLsn = confirmed;
        _status.AppliedLsn = _target.AppliedLsn;
        _position.Reset(confirmed);
        _log.LogInformation("resumed from checkpoint {Checkpoint} at {Lsn} (no snapshot copy): slot {Slot} confirmed at {Confirmed}",
            Path.GetFileName(checkpoint.Path), checkpoint.Lsn, _slot.Name, confirmed);
        return new StartedUp(null, new RelationCatalog(held), held, membership);
    }

    /// <summary>
    /// Why the checkpoint at K does not hold what the publications hold now, beyond what <see cref="CheckpointUsability"/>
    /// compares: the store held exactly the checkpoint's tables with their membership tokens, partitions and names from
    /// <see cref="HeldMembership.Since"/> ≤ K on. A partition attached or detached while pgrelay was down (or after K)
    /// adds or takes away the root's rows with nothing in the stream; so does any membership change after K.
    /// </summary>
    private string? MembershipProblem(CheckpointInfo checkpoint, IReadOnlyDictionary<uint, string> tokens)
    {
        if (_options.StateDirectory is null) return null;
        string name = Path.GetFileName(checkpoint.Path);
        var record = HeldMembership.Load(_options.StateDirectory);
        if (record is null)
            return $"checkpoint {name}: no record of the tables held when it was written ({HeldMembership.StateFileName} in the state directory)";
        if (!record.SameTables(tokens))
            return $"checkpoint {name}: the tables held changed since it was written (added to or removed from the publications, renamed, partitions attached or detached)";
        if (record.Since > checkpoint.Lsn)
            return $"checkpoint {name} is at {checkpoint.Lsn}, but the tables held changed at {record.Since}, after it";
        return null;
    }

    private void Useless(ICheckpointStore checkpoints, string reason)
    {
        _log.LogError("{Reason}; taking a fresh snapshot", reason);
        checkpoints.Discard(reason);
    }

    /// <summary>
    /// Start-up that keeps the permanent slot at its confirmed position C: the cache's snapshot comes from a temporary
    /// slot created with EXPORT_SNAPSHOT on a second replication connection (consistent point P ≥ C), the temporary
    /// slot goes with its connection once the copy is done, and streaming then starts on the kept slot from C. The
    /// transactions committed in [C, P) are already in the snapshot: the target replays them for durable consumers.
    /// </summary>
    private async Task<StartedUp> StartUpOnKeptSlotAsync(int? activePid, Lsn confirmed, PreflightResult preflight, CancellationToken ct)
    {
        if (activePid is { } pid) await TerminateAsync(pid, ct).ConfigureAwait(false);   // a previous run's walsender still holding it
        await using var temporary = await OpenReplicationAsync(ct).ConfigureAwait(false);
        var name = $"pgrelay_tmp_{Environment.ProcessId}_{Random.Shared.Next(1_000_000)}";
        var slot = await temporary.CreatePgOutputReplicationSlot(name, temporarySlot: true,
            slotSnapshotInitMode: LogicalSlotSnapshotInitMode.Export, cancellationToken: ct).ConfigureAwait(false);
        var consistentPoint = new Lsn((ulong)slot.ConsistentPoint);
        var snapshotName = slot.SnapshotName ?? throw new InvalidOperationException("the server exported no snapshot");
        _status.ConsistentPoint = consistentPoint;
        _status.ConfirmedLsn = confirmed;   // never confirm past what the kept slot's consumers have
        _position.Reset(confirmed);
        _log.LogInformation("keeping slot {Slot} confirmed at {Confirmed}; snapshot {Snapshot} from temporary slot at {ConsistentPoint}",
            _slot.Name, confirmed, snapshotName, consistentPoint);

        var (schema, membership) = await IntrospectAsync(snapshotName, preflight, ct).ConfigureAwait(false);
        var held = schema.Tables.Select(t => t.Schema).ToList();
        var tokens = HeldMembership.TokensOf(held, membership);
        var record = HeldMembership.Load(_options.StateDirectory);
        // Without a state directory (pgrelay embedded in a process that names its slot) nothing was recorded: replay as asked.
        var unsafeBecause = _options.StateDirectory is null ? null : ReplayUnsafe(record, tokens, _options.ResumeFrom ?? confirmed);
        bool replayable = unsafeBecause is null;
        if (!replayable)
            _log.LogWarning("sinks behind the new snapshot start over from it instead of replaying the slot: {Reason}", unsafeBecause);
        _status.Phase = ReplicationPhase.Snapshotting;
        _target.BeginSnapshot(schema.Publications, replayFrom: replayable ? confirmed : null);
        var copier = new SnapshotCopier(_source, _options, _target, _status, _log);
        await copier.CopyAsync(snapshotName, schema.Tables, ct).ConfigureAwait(false);
        _target.CompleteSnapshot(consistentPoint);
        _status.AppliedLsn = _target.AppliedLsn;
        _log.LogInformation("snapshot complete: {Rows} rows in {Tables} tables", _status.SnapshotRowsCopied, schema.Tables.Count);
        // Unchanged membership keeps its older start: consumers between it and this snapshot still replay exactly.
        RecordHeld(replayable && record is not null ? record.Since : consistentPoint, tokens);
        return new StartedUp(null, new RelationCatalog(held), held, membership);
    }

    /// <summary>
    /// Why replaying the kept slot from the oldest checkpoint <paramref name="resumeFrom"/> would not give the sinks what the
    /// new snapshot holds, or null when it does: the held tables and their publication membership must be the ones the
    /// sinks last learned of (<see cref="HeldMembership"/>). PostgreSQL streams nothing of a table while it is out of the
    /// publications, and a change of membership the previous run made took effect through changes of its own (a truncate,
    /// a load's rows) that a replay does not carry.
    /// </summary>
    private static string? ReplayUnsafe(HeldMembership? record, IReadOnlyDictionary<uint, string> tokens, Lsn resumeFrom)
    {
        if (record is null) return $"no record of the tables held before ({HeldMembership.StateFileName} in the state directory)";
        if (!record.SameTables(tokens)) return "the tables held changed since the sinks last heard (added to or removed from the publications, renamed, partitions attached or detached)";
        if (record.Since > resumeFrom)
            return $"the tables held changed at {record.Since}, after the oldest sink checkpoint {resumeFrom}, and a replay does not carry that change";
        return null;
    }

    /// <summary>Records the tables held from <paramref name="since"/> on (see <see cref="HeldMembership"/>).</summary>
    private void RecordHeld(Lsn since, IReadOnlyDictionary<uint, string> tokens)
    {
        if (!HeldMembership.Save(_options.StateDirectory, since, tokens))
            _log.LogWarning("could not record the tables held in the state directory; after a restart the sinks start over instead of replaying");
    }

    /// <summary>
    /// A graceful stop drops the slot this instance created: the cache dies with the process, and a slot nobody reads
    /// would make the server keep WAL forever. Bounded, and a failure is only logged.
    /// </summary>
    private async Task DropSlotOnStopAsync()
    {
        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
            await using var conn = await Preflight.OpenAsync(_source, bound.Token).ConfigureAwait(false);
            // Our walsender may take a moment to let go of the slot after its connection closed.
            await using var drop = new NpgsqlCommand(
                "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = @slot AND active_pid IS NULL", conn);
            drop.Parameters.AddWithValue("slot", _slot.Name);
            await using var exists = new NpgsqlCommand("SELECT count(*) FROM pg_replication_slots WHERE slot_name = @slot", conn);
            exists.Parameters.AddWithValue("slot", _slot.Name);
            while ((long)(await exists.ExecuteScalarAsync(bound.Token).ConfigureAwait(false))! > 0)
            {
                await drop.ExecuteNonQueryAsync(bound.Token).ConfigureAwait(false);
                await Task.Delay(50, bound.Token).ConfigureAwait(false);
            }
            _log.LogInformation("dropped slot {Slot} on stop", _slot.Name);
        }
        catch (Exception e) when (e is NpgsqlException or OperationCanceledException or System.Net.Sockets.SocketException)
        {
            _log.LogWarning("could not drop slot {Slot} on stop ({Error}); it keeps WAL on the server until it is dropped", _slot.Name, e.Message);
        }
    }

    /// <summary>
    /// A pgrelay killed with -9 (or whose graceful drop failed) leaves its slot behind, inactive, holding WAL. This instance
    /// never drops a slot it did not create — another instance may resume it from its state directory — so it says so,
    /// with the bytes held. Returns whether the look succeeded.
    /// </summary>
    private async Task<bool> WarnAboutLeftoverSlotsAsync(CancellationToken ct)
    {
        try
        {
            await using var conn = await Preflight.OpenAsync(_source, ct).ConfigureAwait(false);
            await using var cmd = new NpgsqlCommand($"""
                SELECT slot_name, coalesce(database, ''), coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn), 0)::int8
                FROM pg_replication_slots
                WHERE left(slot_name, {SlotNames.Prefix.Length}) = @prefix AND NOT active AND NOT temporary AND slot_name <> @mine
                ORDER BY slot_name
                """, conn);
            cmd.Parameters.AddWithValue("prefix", SlotNames.Prefix);
            cmd.Parameters.AddWithValue("mine", _slot.Name);
            await using var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
                _log.LogWarning(
                    "inactive slot {Slot} (database {Database}) holds {Bytes} bytes of WAL on the server; this instance did not create it and leaves it alone: if no pgrelay will resume it, drop it with SELECT pg_drop_replication_slot('{Slot}')",
                    reader.GetString(0), reader.GetString(1), reader.GetInt64(2), reader.GetString(0));
            return true;
        }
        catch (Exception e) when (e is NpgsqlException or SocketException or IOException or TimeoutException)
        {
            _log.LogDebug("could not look for leftover slots: {Error}", Preflight.Describe(e));
            return false;
        }
    }

    /// <summary>A replication connection and its IDENTIFY_SYSTEM (the source's system identifier and database).</summary>
    private async Task<(LogicalReplicationConnection Connection, ReplicationSystemIdentification System)> IdentifyAsync(CancellationToken ct)
    {
        var conn = await OpenReplicationAsync(ct).ConfigureAwait(false);
        try
        {
            return (conn, await conn.IdentifySystem(ct).ConfigureAwait(false));
        }
        catch
        {
            await conn.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>The publications' tables and schemas as the catalog has them now, to compare a checkpoint's with.</summary>
    private async Task<(SourceSchema Schema, Dictionary<uint, PublishedRelation> Membership)> ReadCatalogAsync(PreflightResult preflight,
        CancellationToken ct)
    {
        await using var catalog = await Preflight.OpenAsync(_source, ct).ConfigureAwait(false);
        var schema = await new PublicationIntrospector(_log).LoadAsync(catalog, preflight.ServerVersionNum, _options.Publications.ToList(), ct)
            .ConfigureAwait(false);
        var membership = await PublicationMembership.ReadAsync(catalog, preflight.ServerVersionNum, _options.Publications.ToList(), ct)
            .ConfigureAwait(false);
        return (schema, membership);
    }

    private async Task<(int? ActivePid, Lsn? Confirmed, string? WalStatus)?> FindSlotAsync(CancellationToken ct)
    {
        await using var conn = await Preflight.OpenAsync(_source, ct).ConfigureAwait(false);
        await using var cmd = new NpgsqlCommand(
            "SELECT active_pid, confirmed_flush_lsn, wal_status FROM pg_replication_slots WHERE slot_name = @slot AND slot_type = 'logical' AND database = current_database()", conn);
        cmd.Parameters.AddWithValue("slot", _slot.Name);
        await using var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        if (!await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            await reader.DisposeAsync().ConfigureAwait(false);
            // A slot of that name for another database (or a physical one) still blocks creation: report it as existing.
            await using var any = new NpgsqlCommand("SELECT active_pid FROM pg_replication_slots WHERE slot_name = @slot", conn);
            any.Parameters.AddWithValue("slot", _slot.Name);
            var found = await any.ExecuteScalarAsync(ct).ConfigureAwait(false);
            return found is null ? null : (found as int?, null, null);
        }
        int? pid = reader.IsDBNull(0) ? null : reader.GetInt32(0);
        Lsn? confirmed = reader.IsDBNull(1) ? null : new Lsn((ulong)reader.GetFieldValue<NpgsqlTypes.NpgsqlLogSequenceNumber>(1));
        return (pid, confirmed, reader.IsDBNull(2) ? null : reader.GetString(2));
    }

    private async Task TerminateAsync(int pid, CancellationToken ct)
    {
        await using var conn = await Preflight.OpenAsync(_source, ct).ConfigureAwait(false);
        await using var kill = new NpgsqlCommand("SELECT pg_terminate_backend(@pid)", conn);
        kill.Parameters.AddWithValue("pid", pid);
        await kill.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        // The walsender lets go of the slot as it exits; wait briefly so START_REPLICATION does not find it active.
        await using var wait = new NpgsqlCommand("SELECT count(*) FROM pg_replication_slots WHERE active_pid = @pid", conn);
        wait.Parameters.AddWithValue("pid", pid);
        for (int i = 0; i < 100 && (long)(await wait.ExecuteScalarAsync(ct).ConfigureAwait(false))! > 0; i++)
            await Task.Delay(50, ct).ConfigureAwait(false);
    }

    /// <summary>Reads the publications as of the snapshot, so the schema matches the copied rows exactly (and membership, so that a
    /// table removed and added again after the snapshot is noticed).</summary>
    private async Task<(SourceSchema, Dictionary<uint, PublishedRelation>)> IntrospectAsync(string snapshotName, PreflightResult preflight, CancellationToken ct)
    {
        await using var conn = await Preflight.OpenAsync(_source, ct).ConfigureAwait(false);
        await using (var begin = new NpgsqlCommand(
            $"BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET TRANSACTION SNAPSHOT '{snapshotName.Replace("'", "''")}'", conn))
            await begin.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        var schema = await new PublicationIntrospector(_log).LoadAsync(conn, preflight.ServerVersionNum, _options.Publications.ToList(), ct)
            .ConfigureAwait(false);
        var membership = await PublicationMembership.ReadAsync(conn, preflight.ServerVersionNum, _options.Publications.ToList(), ct)
            .ConfigureAwait(false);
        await using (var commit = new NpgsqlCommand("COMMIT", conn))
            await commit.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        return (schema, membership);
    }

    private async Task DropExistingSlotAsync(LogicalReplicationConnection replication, int? activePid, CancellationToken ct)
    {
        // The cache is in memory, so an old slot's position means nothing to us: start fresh.
        _log.LogInformation("dropping existing slot {Slot} to start from a fresh snapshot", _slot.Name);
        if (activePid is { } pid)
        {
            await using var conn = await Preflight.OpenAsync(_source, ct).ConfigureAwait(false);
            await using var kill = new NpgsqlCommand("SELECT pg_terminate_backend(@pid)", conn);
            kill.Parameters.AddWithValue("pid", pid);
            await kill.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }
        await replication.DropReplicationSlot(_slot.Name, wait: true, cancellationToken: ct).ConfigureAwait(false);
    }

    private async Task<LogicalReplicationConnection> OpenReplicationAsync(CancellationToken ct)
    {
        var conn = new LogicalReplicationConnection(_source.ReplicationConnectionString("pgrelay"))
        {
            WalReceiverStatusInterval = _options.StatusInterval,
        };
        try
        {
            await conn.Open(ct).ConfigureAwait(false);
            return conn;
        }
        catch
        {
            await conn.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private async Task FailedAsync(string stage, Exception e, Backoff backoff, CancellationToken ct)
    {
        var delay = backoff.Next();
        _status.Phase = ReplicationPhase.Reconnecting;
        _status.LastError = Preflight.Describe(e);
        _status.CountReconnect();
        _log.LogWarning("{Stage} failed: {Error}; retrying in {Delay:0.0}s", stage, _status.LastError, delay.TotalSeconds);
        await Task.Delay(delay, ct).ConfigureAwait(false);
    }

    /// <summary>Connection-level failures are retried; a user-fixable setup problem stops pgrelay, as does cancellation.</summary>
    private static bool IsRetryable(Exception e, CancellationToken ct)
    {
        if (ct.IsCancellationRequested) return false;
        if (e is ReplicationSetupException setup)
            // The server being down, starting or restarting shows up as a setup failure to connect: retry that, and only that.
            return setup.IsTransient;
        return e is NpgsqlException or IOException or SocketException or TimeoutException or InvalidDataException
            or OperationCanceledException or InvalidOperationException or SlotMovedException;
    }
}
