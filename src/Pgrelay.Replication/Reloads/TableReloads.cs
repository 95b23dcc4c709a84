using Microsoft.Extensions.Logging;
using Npgsql;
using Pgrelay.Core.Changes;
using Pgrelay.Core.Model;
using Pgrelay.Core.Status;
using Pgrelay.Replication.Connection;

namespace Pgrelay.Replication.Reloads;

/// <summary>
/// Loads tables beside the running stream, without a gap or a duplicate, and removes tables that left the publications:
/// the incremental snapshot of DBLog and Debezium, built on PostgreSQL's own consistent-point rule instead of key windows.
/// <list type="number">
/// <item>The load of table T is decided (T was added to a publication, or a relation change left its held rows
/// unreadable). From then on the decoder copies T's changes of every applied transaction into T's tail.</item>
/// <item>A temporary slot is created with an exported snapshot at consistent point P (after the decision, so the tail
/// covers every commit at or after P). T is introspected and copied inside that snapshot into a shadow the store keeps
/// aside (<see cref="ITableLoad"/>). The snapshot holds exactly the transactions that commit before P; PostgreSQL streams
/// every one at or after P — the rule the initial snapshot already relies on.</item>
/// <item>A transactional marker message is written (<see cref="ReloadMarker"/>). When its transaction arrives, the
/// tail's transactions committed at or after P are applied to the shadow, and the marker's transaction carries a
/// <see cref="ChangeKind.Load"/> change: the store puts the shadow in place of T atomically with it, and the feed gets the
/// rows that differ.</item>
/// </list>
/// If the tail holds a relation change for T at or after P whose columns differ from the copy's, the copy is stale and T's
/// load starts over from step 2 (the tail stays). Several tables decided together share one temporary slot.
/// <para>Why not a plain REPEATABLE READ snapshot and xid visibility (pg_current_snapshot): a commit record is flushed,
/// and so decoded, before the committing backend leaves the proc array (RecordTransactionCommit waits there for
/// synchronous standbys), so a transaction the stream applied before the decision can still be invisible to a snapshot
/// taken after it: neither in the copy nor in the tail. An exported slot snapshot is built from the WAL itself, so "in the
/// copy" and "streamed" split exactly at P.</para>
/// </summary>
internal sealed class TableReloads : IAsyncDisposable
{
    private readonly object _lock = new();
    private readonly SourceOptions _source;
    private readonly ReplicationOptions _options;
    private readonly IReplicationTarget _target;
    private readonly ReplicationStatus _status;
    private readonly ILogger _log;
    private readonly string _instance = Convert.ToHexString(Guid.NewGuid().ToByteArray(), 0, 6).ToLowerInvariant();
    private readonly Dictionary<uint, HeldTable> _held;
    private readonly Dictionary<uint, string> _unloadable = [];          // published tables that cannot be cached, by fingerprint
    private readonly Dictionary<uint, Reload> _reloads = [];
    private readonly Dictionary<string, Removal> _removals = [];
    private readonly List<Reload> _retired = [];                         // cancelled and replaced: tails to dispose
    private readonly SemaphoreSlim _wake = new(0);
    private readonly SemaphoreSlim _pollNow = new(0);
    private readonly CancellationTokenSource _stop = new();
    private readonly string _spillDirectory;
    private long _markers, _generation;
    private Task _worker = Task.CompletedTask, _watcher = Task.CompletedTask;

    private sealed record HeldTable(TableSchema Schema, PublishedRelation Membership, long Generation);

    internal sealed class Reload(uint relationId, string name, ReloadTail tail, TableReloadStatus status)
    {
        public uint RelationId { get; } = relationId;
        public string Name { get; } = name;
        public ReloadTail Tail { get; } = tail;
        public TableReloadStatus Status { get; } = status;
        public Attempt? Attempt { get; set; }
        public bool Copying { get; set; }
        public bool Cancelled { get; set; }
        public int Restarts { get; set; }
        /// <summary>Transactions of the tail the copy lacked (committed at or after its consistent point).</summary>
        public int CaughtUp { get; set; }
    }

    /// <summary>One copy of a table, made in a snapshot at <paramref name="ConsistentPoint"/>, waiting for its marker.</summary>
    internal sealed record Attempt(string MarkerId, Lsn ConsistentPoint, ITableLoad Load, PublishedRelation Membership);

    internal sealed record Removal(uint RelationId, TableSchema Schema)
    {
        public bool Emitted { get; set; }
    }

    /// <summary>What a marker transaction does: the changes it carries, and what to record once the target applied it.</summary>
    internal sealed class MarkerWork
    {
        public List<RowChange> Changes { get; } = [];
        internal List<(Reload Reload, Attempt Attempt)> Loaded { get; } = [];
        internal List<Removal> Removed { get; } = [];
    }

    public TableReloads(SourceOptions source, ReplicationOptions options, IReplicationTarget target, ReplicationStatus status, ILogger log,
        IEnumerable<TableSchema> held, IReadOnlyDictionary<uint, PublishedRelation> membership)
    {
        _source = source;
        _options = options;
        _target = target;
        _status = status;
        _log = log;
        _spillDirectory = options.SpillDirectory ?? Path.GetTempPath();
        _held = held.Where(t => membership.ContainsKey(t.RelationId))
            .ToDictionary(t => t.RelationId, t => new HeldTable(t, membership[t.RelationId], 0));
        foreach (var (id, relation) in membership)
            if (!_held.ContainsKey(id)) _unloadable[id] = Fingerprint(relation);
    }

    /// <summary>The membership token of every held table. Checkpoints record them: a table removed from its publication and
    /// added again while pgrelay was down has another token at the next start.</summary>
    public IReadOnlyDictionary<uint, string> MembershipTokens()
    {
        lock (_lock) return _held.ToDictionary(p => p.Key, p => p.Value.Membership.CheckpointToken);
    }

    /// <summary>Starts the load worker and the publication watcher.</summary>
    public void Start()
    {
        _worker = Task.Run(() => WorkAsync(_stop.Token));
        _watcher = Task.Run(() => new PublicationWatcher(_source, _options, _status, this, _log).RunAsync(_pollNow, _stop.Token));
    }

    // ---------------- decisions (any thread) ----------------

    /// <summary>Decides to load a table beside the stream; nothing happens when it is being loaded already.</summary>
    public void RequestLoad(uint relationId, string name, string reason)
    {
        bool held;
        lock (_lock)
        {
            if (_reloads.TryGetValue(relationId, out var existing))
            {
                if (!existing.Cancelled) return;
                _retired.Add(existing);   // its tail may be in a tee right now: the writer disposes it
            }
            var status = new TableReloadStatus(name, reason, _target.AppliedLsn);
            _reloads[relationId] = new Reload(relationId, name, new ReloadTail(_options.SpillThresholdBytes, _spillDirectory), status);
            _status.AddReload(status);
            held = _held.ContainsKey(relationId);
        }
        _log.LogWarning("loading table {Table} beside the stream ({Reason}); until it is loaded it serves {What}",
            name, reason, held ? "its rows as they were" : "nothing");
        _wake.Release();
    }

    /// <summary>A held table left every replicated publication: it is removed at the marker's transaction.</summary>
    public void RequestRemoval(uint relationId)
    {
        lock (_lock)
        {
            CancelLocked(relationId);
            if (!_held.TryGetValue(relationId, out var held) || _removals.Values.Any(r => r.RelationId == relationId)) return;
            _removals[NextMarkerLocked()] = new Removal(relationId, held.Schema);
            _log.LogWarning("table {Table} left the publications; removing it", held.Schema);
        }
        _wake.Release();
    }

    /// <summary>A published table pgrelay cannot cache (no key): remembered so the watcher does not try again until it
    /// changes. A table held until now is removed rather than served frozen and stale.</summary>
    public void Unloadable(PublishedRelation relation)
    {
        bool held;
        lock (_lock)
        {
            _unloadable[relation.RelationId] = Fingerprint(relation);
            CancelLocked(relation.RelationId);
            held = _held.ContainsKey(relation.RelationId);
        }
        if (held) RequestRemoval(relation.RelationId);
    }

    /// <summary>The watcher's view of the catalog, compared with what is held. Tables that changed since the look started
    /// (<paramref name="generation"/>) are left to the next look.</summary>
    public void Reconcile(IReadOnlyDictionary<uint, PublishedRelation> published, long generation)
    {
        var loads = new List<(uint, string, string)>();
        var removals = new List<uint>();
        lock (_lock)
        {
            foreach (var (id, relation) in published)
            {
                if (_reloads.ContainsKey(id)) continue;
                if (_unloadable.TryGetValue(id, out var fingerprint) && fingerprint == Fingerprint(relation)) continue;
                if (!_held.TryGetValue(id, out var held))
                {
                    loads.Add((id, relation.Name, "added to the publication"));
                    continue;
                }
                if (held.Generation > generation) continue;
                if (held.Membership.Token != relation.Token)
                    loads.Add((id, relation.Name, held.Membership.Publications.SequenceEqual(relation.Publications)
                        ? "removed from the publication and added again" : "publications changed"));
                else if (!relation.SameColumnsAs(held.Schema))
                    loads.Add((id, relation.Name, "columns changed"));
                else if (!relation.SameKeyAs(held.Schema))
                    loads.Add((id, relation.Name, "primary key changed"));
                else if (!relation.SameNameAs(held.Schema))
                    loads.Add((id, relation.Name, "renamed"));
                else if (held.Membership.Partitions != relation.Partitions)
                    loads.Add((id, relation.Name, "partitions attached or detached"));
                else if (held.Membership.RowFilter != relation.RowFilter)
                    loads.Add((id, relation.Name, "row filter changed"));
                else if (!relation.SameCompositesAs(held.Schema))
                    loads.Add((id, relation.Name, "a composite type of its columns changed"));
            }
            foreach (var (id, held) in _held)
                if (!published.ContainsKey(id) && held.Generation <= generation) removals.Add(id);
            foreach (var id in _unloadable.Keys.Where(id => !published.ContainsKey(id)).ToList()) _unloadable.Remove(id);
        }
        foreach (var (id, name, reason) in loads) RequestLoad(id, name, reason);
        foreach (var id in removals) RequestRemoval(id);
    }

    public long Generation => Interlocked.Read(ref _generation);

    // ---------------- the decoder (writer thread) ----------------

    /// <summary>A relation message for a table: one whose rows the stream cannot carry over is loaded again.</summary>
    public void RelationChanged(TableSchema known, TableSchema now)
    {
        if (!known.IsRowCompatibleWith(now))
        {
            RequestLoad(now.RelationId, $"{now.SchemaName}.{now.TableName}", "columns changed");
            return;
        }
        // A rename the stream carried is applied by the store; the publication check must not load the table for it again.
        lock (_lock)
            if (_held.TryGetValue(now.RelationId, out var held) && !(held.Schema.SchemaName == now.SchemaName && held.Schema.TableName == now.TableName))
                _held[now.RelationId] = held with { Schema = now };
    }

    /// <summary>A composite value whose fields do not match its type's known fields: look at the publications now.</summary>
    public void CompositeAltered() => _pollNow.Release();

    /// <summary>A relation the stream names that was not held: look at the publications now rather than at the next poll.</summary>
    public void UnknownRelation() => _pollNow.Release();

    /// <summary>True for a marker payload this instance wrote.</summary>
    public bool IsOwnMarker(string payload) => payload.StartsWith(_instance + ":", StringComparison.Ordinal);

    /// <summary>A tee for the next applied transaction, or null when no table is being loaded.</summary>
    public TailTee? StartTee()
    {
        lock (_lock)
        {
            foreach (var r in _retired) r.Tail.Dispose();
            _retired.Clear();
            if (_reloads.Count == 0) return null;
            foreach (var r in _reloads.Values.Where(r => r.Cancelled).ToList()) Forget(r);
            var tails = new Dictionary<uint, ReloadTail>();
            foreach (var r in _reloads.Values)
            {
                r.Tail.DropPending();
                tails[r.RelationId] = r.Tail;
            }
            return tails.Count == 0 ? null : new TailTee(tails);
        }
    }

    /// <summary>
    /// The markers of a committed transaction: loads whose copy is done get their tail applied and a Load change, removals
    /// an Unpublish change. Null when none of them is ours or due.
    /// </summary>
    public MarkerWork? OnMarkers(IReadOnlyList<string> markers)
    {
        MarkerWork? work = null;
        foreach (var id in markers)
        {
            lock (_lock)
            {
                if (_removals.Remove(id, out var removal))
                {
                    work ??= new();
                    work.Changes.Add(new RowChange(ChangeKind.Unpublish, removal.Schema));
                    work.Removed.Add(removal);
                    continue;
                }
            }
            List<(Reload, Attempt)> due;
            lock (_lock)
                due = _reloads.Values.Where(r => !r.Cancelled && r.Attempt?.MarkerId == id).Select(r => (r, r.Attempt!)).ToList();
            foreach (var (reload, attempt) in due)
            {
                if (!CatchUp(reload, attempt)) continue;
                work ??= new();
                work.Changes.Add(new RowChange(ChangeKind.Load, attempt.Load.Schema));
                work.Loaded.Add((reload, attempt));
            }
        }
        return work;
    }

    /// <summary>The target applied the marker transaction (ending at <paramref name="end"/>): loaded tables are held from now
    /// on, removed ones no longer. A change of the tables held is recorded (<see cref="HeldMembership"/>): a restart before
    /// every sink has this transaction cannot replay its effect to them.</summary>
    public void Applied(MarkerWork work, Streaming.RelationCatalog catalog, Lsn end)
    {
        lock (_lock)
        {
            var before = HeldTokensLocked();
            long generation = Interlocked.Increment(ref _generation);
            foreach (var (reload, attempt) in work.Loaded)
            {
                _held[reload.RelationId] = new HeldTable(attempt.Load.Schema, attempt.Membership, generation);
                catalog.Adopt(attempt.Load.Schema);
                _log.LogInformation("table {Table} loaded beside the stream: copy at {ConsistentPoint}, then {CaughtUp} of {Kept} kept transactions",
                    reload.Name, attempt.ConsistentPoint, reload.CaughtUp, reload.Tail.TransactionCount);
                Forget(reload);
            }
            foreach (var removal in work.Removed)
            {
                _held.Remove(removal.RelationId);
                _log.LogInformation("table {Table} removed", removal.Schema);
            }
            var after = HeldTokensLocked();
            if (!HeldMembership.Same(before, after) && !HeldMembership.Save(_options.StateDirectory, end, after))
                _log.LogWarning("could not record the tables held in the state directory; after a restart the sinks start over instead of replaying");
        }
    }

    private Dictionary<uint, string> HeldTokensLocked() => _held.ToDictionary(h => h.Key, h => HeldMembership.Of(h.Value.Membership));

    /// <summary>Applies the tail's transactions committed at or after the copy's consistent point to the copy. False when
    /// one of them changed the table's columns (the copy is stale): the load starts over.</summary>
    private bool CatchUp(Reload reload, Attempt attempt)
    {
        var load = attempt.Load;
        int applied = 0;
        reload.Status.Phase = "catching up";
        foreach (var (t, changes) in reload.Tail.Read())
        {
            if (t.CommitLsn < attempt.ConsistentPoint) continue;   // in the copy
            var relabeled = new List<RowChange>(changes.Count);
            foreach (var change in changes)
            {
                if (!change.Table.HasSameColumns(load.Schema))
                {
                    Restart(reload, $"its columns changed at {t.CommitLsn}, after the copy's snapshot at {attempt.ConsistentPoint}");
                    return false;
                }
                if (change.Kind == ChangeKind.Relation) continue;
                // The copy's schema decides the key, as after the initial snapshot; rows are clones the store may stamp.
                relabeled.Add(change with
                {
                    Table = load.Schema,
                    NewRow = (byte[]?)change.NewRow?.Clone(),
                    OldRow = (byte[]?)change.OldRow?.Clone(),
                });
            }
            load.ApplyTail(new Transaction(t.Xid, t.CommitLsn, t.EndLsn, t.CommitTime, relabeled.Count, relabeled));
            applied++;
        }
        reload.CaughtUp = applied;
        return true;
    }

    private void Restart(Reload reload, string why)
    {
        // Each start over follows a real column change after the copy; many in a row mean the table keeps changing, or
        // that the stream and the catalog describe it differently.
        _log.Log(reload.Restarts >= 3 ? LogLevel.Error : LogLevel.Warning, "loading table {Table} again (attempt {Attempt}): {Why}",
            reload.Name, reload.Restarts + 2, why);
        lock (_lock)
        {
            reload.Attempt?.Load.Abandon();
            reload.Attempt = null;
            reload.Restarts++;
            reload.Status.Phase = "waiting for a snapshot";
        }
        _wake.Release();
    }

    private void CancelLocked(uint relationId)
    {
        if (!_reloads.TryGetValue(relationId, out var reload)) return;
        reload.Cancelled = true;
        reload.Attempt?.Load.Abandon();
        reload.Attempt = null;
        _status.RemoveReload(reload.Status);
    }

    /// <summary>Writer thread (or disposal): drops a finished or cancelled load and its tail.</summary>
    private void Forget(Reload reload)
    {
        if (_reloads.TryGetValue(reload.RelationId, out var current) && ReferenceEquals(current, reload)) _reloads.Remove(reload.RelationId);
        reload.Tail.Dispose();
        _status.RemoveReload(reload.Status);
    }

    private string NextMarkerLocked() => $"{_instance}:{++_markers}";

    private static string Fingerprint(PublishedRelation r) =>
        r.CheckpointToken + "|" + string.Join(",", r.Columns.Select(c => $"{c.Name}:{c.TypeOid}:{c.TypeModifier}")) + "|" + string.Join(",", r.PrimaryKey);

    // ---------------- the worker ----------------

    private async Task WorkAsync(CancellationToken ct)
    {
        var backoff = new Backoff(_options.ReconnectInitialDelay, _options.ReconnectMaxDelay);
        NpgsqlConnection? markers = null;
        try
        {
            while (true)
            {
                await _wake.WaitAsync(ct).ConfigureAwait(false);
                try
                {
                    markers ??= await Preflight.OpenAsync(_source, ct).ConfigureAwait(false);
                    List<(string Id, Removal Removal)> removals;
                    lock (_lock) removals = _removals.Where(r => !r.Value.Emitted).Select(r => (r.Key, r.Value)).ToList();
                    foreach (var (id, removal) in removals)
                    {
                        await ReloadMarker.EmitAsync(markers, id, ct).ConfigureAwait(false);
                        lock (_lock) removal.Emitted = true;
                    }

                    List<Reload> batch;
                    lock (_lock)
                    {
                        batch = _reloads.Values.Where(r => !r.Cancelled && r.Attempt is null && !r.Copying).ToList();
                        foreach (var r in batch) r.Copying = true;
                    }
                    if (batch.Count == 0) continue;
                    try
                    {
                        await new ReloadCopy(_source, _options, _target, _log, this)
                            .RunAsync(batch.Select(r => (r.RelationId, r.Status)).ToList(), markers, ct).ConfigureAwait(false);
                    }
                    catch (ReplicationSetupException e)
                    {
                        // Something the user must fix (e.g. the added table's key name is ambiguous in its publication):
                        // trying again changes nothing until the catalog does, and the watcher sees that.
                        _log.LogError("cannot load {Tables} beside the stream: {Problem}", string.Join(", ", batch.Select(r => r.Name)), e.Message);
                        lock (_lock) foreach (var r in batch) CancelLocked(r.RelationId);
                    }
                    finally
                    {
                        lock (_lock) foreach (var r in batch) r.Copying = false;
                    }
                    backoff.Reset();
                }
                catch (Exception e) when (!ct.IsCancellationRequested && e is not OperationCanceledException)
                {
                    // The server went away, a slot could not be created (max_replication_slots), a copy failed: the loads
                    // wait (their tails keep growing) and start again.
                    _log.LogWarning("loading tables beside the stream failed: {Error}; retrying", Preflight.Describe(e));
                    if (markers is not null) await markers.DisposeAsync().ConfigureAwait(false);
                    markers = null;
                    await Task.Delay(backoff.Next(), ct).ConfigureAwait(false);
                    _wake.Release();
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested) { }
        finally
        {
            if (markers is not null) await markers.DisposeAsync().ConfigureAwait(false);
        }
    }

    internal string NextMarker()
    {
        lock (_lock) return NextMarkerLocked();
    }

    /// <summary>The worker's result for one table: a copy waiting for its marker, or null when the table turned out not to
    /// be published (or not cacheable) in the snapshot.</summary>
    internal void Attach(uint relationId, Attempt? attempt)
    {
        lock (_lock)
        {
            if (!_reloads.TryGetValue(relationId, out var reload) || reload.Cancelled)
            {
                attempt?.Load.Abandon();
                return;
            }
            if (attempt is null)
            {
                reload.Cancelled = true;
                _status.RemoveReload(reload.Status);
                return;
            }
            reload.Attempt = attempt;
            reload.Status.Phase = "copied, waiting for the stream";
        }
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        await _worker.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        await _watcher.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        lock (_lock)
        {
            foreach (var r in _reloads.Values.ToList())
            {
                r.Attempt?.Load.Abandon();
                Forget(r);
            }
        }
        _stop.Dispose();
    }
}
