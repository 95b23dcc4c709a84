using Pgrelay.Core.Changes;
using Pgrelay.Core.Model;
using Pgrelay.Core.Rows;
using Pgrelay.Store.Catalog;
using Pgrelay.Store.Checkpoints;
using Pgrelay.Store.Feed;
using Pgrelay.Store.Snapshots;
using Pgrelay.Store.Tables;
using Pgrelay.Store.Writing;

namespace Pgrelay.Store;

/// <summary>
/// The replicated tables in memory. One writer (replication) applies whole transactions; any number of
/// readers read without locks. Every version carries the end LSN of its transaction, and a transaction's versions
/// become visible together when <see cref="VisibleLsn"/> moves to that end, so no reader sees half of one
/// (<see cref="CommitVisibility"/>).
/// This type is the front door: reads, pins and consumers for readers, <see cref="IReplicationTarget"/> for the
/// writer. The work is done by <see cref="StoreCatalog"/> (tables, key resolution), <see cref="TransactionRouter"/>
/// (what a transaction is to the store), <see cref="ChangeApplier"/> (versions) and <see cref="VersionMaintenance"/>.
/// </summary>
public sealed class ReplicatedStore : IReplicationTarget
{
    private readonly object _write = new();
    private readonly CommitVisibility _visibility = new();
    /// <summary>Every table's key hash (seeded per store; a checkpoint load adopts the seed its hash tags were made with).</summary>
    private readonly KeyHasher _hasher = new();
    private readonly PinRegistry _pins;
    private readonly StoreCatalog _catalog;
    private readonly TransactionRouter _router = new();
    private readonly VersionMaintenance _maintenance;
    private readonly ChangeApplier _applier;
    private readonly SnapshotLoader _loader;
    private readonly TableSwap _swap;
    private readonly ReplayCopies _replayCopies;
    private readonly Dictionary<uint, ShadowLoad> _loads = [];   // tables being loaded beside the stream, by relation id
    private readonly DurableConsumers _consumers = new();
    private volatile bool _ready;
    private volatile bool _resnapshotting;
    private long _changesApplied;
    private Lsn? _replayFrom;        // set between BeginSnapshot and CompleteSnapshot when streaming resumes below the snapshot
    private long _generation;        // counts snapshots (and checkpoint loads): a checkpoint of an older one is never made valid
    private bool _holdSlotForCheckpoints;
    // The slot is never confirmed past this: the newest valid checkpoint's LSN K (or, before the first one, the LSN the
    // data was loaded at), so a restart can always stream from at or below K. Unbounded without checkpoints.
    private ulong _confirmCeiling = ulong.MaxValue;

    public ChangeFeed Feed { get; } = new();

    public ReplicatedStore()
    {
        var visibility = _visibility;
        _pins = new PinRegistry(() => visibility.Visible);   // one delegate, not one per pin
        _catalog = new StoreCatalog(_visibility, _hasher);
        var keys = new RowKeys(_hasher);
        _maintenance = new VersionMaintenance(_pins, keys);
        _applier = new ChangeApplier(_catalog, keys, _maintenance);
        _loader = new SnapshotLoader(keys);
        _swap = new TableSwap(_catalog, _visibility, _hasher, keys, _applier);
        _replayCopies = new ReplayCopies(_applier, keys);
    }

    /// <summary>Everything up to this LSN is visible; nothing after it is.</summary>
    public Lsn VisibleLsn => new(_visibility.Visible);

    private ulong _startLsn;
    /// <summary>Where the data the store serves began: the last snapshot's consistent point or the loaded checkpoint's LSN
    /// (zero before either). What was applied since is VisibleLsn minus this, whenever anyone looks.</summary>
    public Lsn StartLsn => new(Volatile.Read(ref _startLsn));

    /// <summary>The initial snapshot has been loaded.</summary>
    public bool IsReady => _ready;

    /// <summary>A fresh snapshot is loading aside while readers keep the previous consistent data (<see cref="IsReady"/>
    /// stays true): the replaced tables go at once when it completes.</summary>
    public bool IsResnapshotting => _resnapshotting;

    public IReadOnlyList<PublicationView> Publications => _catalog.Publications;
    public long ChangesApplied => Interlocked.Read(ref _changesApplied);
    public long TotalRows => Tables.Sum(t => t.RowCount);
    public long TotalMemoryBytes => Tables.Sum(t => t.MemoryBytes);
    public IEnumerable<StoredTable> Tables => _catalog.Tables;

    // ---------------- readers ----------------

    /// <summary>Pins a consistent snapshot for reads of several keys. Dispose it promptly.</summary>
    public StorePin Pin() => _pins.Pin();

    /// <summary>
    /// Pins <paramref name="released"/> (a pin of this store, disposed since it was last pinned) again at the latest
    /// committed state. Hot paths keep one pin per connection this way and pin without allocating.
    /// </summary>
    public void Repin(StorePin released) => _pins.Repin(released);

    /// <summary>
    /// Pins a snapshot and says where the feed continues from it: <paramref name="endLsn"/> is the end LSN of the last
    /// transaction the pin includes, so <see cref="ChangeFeed.TryReadAfterEnd"/> from it yields exactly what the pin lacks.
    /// </summary>
    public StorePin Pin(out Lsn endLsn)
    {
        lock (_write)
        {
            var pin = _pins.Pin();
            endLsn = pin.Lsn;
            return pin;
        }
    }

    /// <summary>End LSN of the last applied transaction (or the snapshot's consistent point): the visible LSN.</summary>
    public Lsn AppliedEndLsn => VisibleLsn;

    /// <summary>The publication named by a key's publication part (its escaped name).</summary>
    public PublicationView? FindPublication(ReadOnlySpan<byte> utf8KeyName) => _catalog.FindPublication(utf8KeyName);

    public PublicationView? FindPublication(string name) => Publications.FirstOrDefault(p => p.Name == name);

    /// <summary>Splits <c>publication.table.key</c>; <paramref name="rowKeyStart"/> is where the row key begins.</summary>
    public bool TryResolveKey(ReadOnlySpan<byte> fullKey, out PublicationView? publication, out StoredTable? table, out int rowKeyStart) =>
        _catalog.TryResolveKey(fullKey, out publication, out table, out rowKeyStart);

    /// <summary>Reads <c>publication.table.key</c> at the latest committed state.</summary>
    public bool TryGetRow(ReadOnlySpan<byte> fullKey, out RowRef row)
    {
        row = default;
        return TryResolveKey(fullKey, out _, out var table, out int start) && table!.TryGet(fullKey[start..], out row);
    }

    public bool TryGetRow(ReadOnlySpan<byte> fullKey, StorePin pin, out RowRef row)
    {
        row = default;
        return TryResolveKey(fullKey, out _, out var table, out int start) && table!.TryGet(fullKey[start..], pin, out row);
    }

    // ---------------- durable consumers ----------------

    public DurableConsumer RegisterDurableConsumer(string name, Lsn start)
    {
        var consumer = new DurableConsumer(this, name, start);
        _consumers.Add(consumer);
        return consumer;
    }

    internal void Unregister(DurableConsumer consumer) => _consumers.Remove(consumer);

    public Lsn AppliedLsn => VisibleLsn;

    public Lsn SafeToConfirmLsn => new(Math.Min(_consumers.Floor(_visibility.Visible), Volatile.Read(ref _confirmCeiling)));

    public Lsn ConfirmCeiling => new(Volatile.Read(ref _confirmCeiling));

    /// <summary>The lowest position every durable consumer has acknowledged (unbounded with none).</summary>
    internal ulong ConsumersFloor => _consumers.Floor(ulong.MaxValue);

    // ---------------- checkpoints ----------------

    /// <summary>From now on the slot is held at the LSN the data was loaded at until a checkpoint is valid, then at its LSN.</summary>
    internal void HoldSlotForCheckpoints()
    {
        lock (_write)
        {
            _holdSlotForCheckpoints = true;
            if (_ready) Volatile.Write(ref _confirmCeiling, Math.Min(_confirmCeiling, _visibility.Visible));
        }
    }

    /// <summary>Pins the visible state with its publications and schemas for a checkpoint, or says why not now: a
    /// snapshot loading, or a table waiting for its load beside the stream (its held rows are not what the source has).</summary>
    internal CheckpointCapture? CaptureCheckpoint(out string? notNow)
    {
        lock (_write)
        {
            notNow = !_ready || _resnapshotting ? "a snapshot is loading"
                : _loads.Count > 0 || _catalog.Tables.Any(t => t.AwaitingReload) ? "a table is being loaded beside the stream"
                : null;
            if (notNow is not null) return null;
            var pin = _pins.Pin();
            var publications = _catalog.Publications
                .Select(p => new PublicationSchema(p.Name, [.. p.Tables.Select(t => t.Schema)])).ToList();
            var tables = _catalog.Tables.Select(t => (t, t.Schema)).ToList();
            return new CheckpointCapture(pin, publications, tables, _generation, _hasher.Seed);
        }
    }

    /// <summary>A checkpoint at <paramref name="capture"/>'s LSN is now on disk: the slot may be confirmed up to it. False
    /// when the data it was taken from was replaced by a fresh snapshot meanwhile (the file must not be kept).</summary>
    internal bool CheckpointValid(CheckpointCapture capture)
    {
        lock (_write)
        {
            if (capture.Generation != _generation) return false;
            Volatile.Write(ref _confirmCeiling, Math.Max(_confirmCeiling == ulong.MaxValue ? 0 : _confirmCeiling, capture.Lsn.Value));
            return true;
        }
    }

    /// <summary>
    /// Loads a checkpoint in place of a snapshot: the tables of <paramref name="publications"/> filled by
    /// <paramref name="read"/> (given a callback per table and one per row version), visible at once at
    /// <paramref name="lsn"/> when it returns. Rows keep their version LSNs; their key hashes are computed again. On failure the store is left
    /// empty and not ready, for a snapshot to fill.
    /// <para><paramref name="publish"/>, asked once every page is in place and before anything becomes visible, lets the load run
    /// beside the checks that decide whether its data may be served at all: false leaves the store empty and returns -1.</para>
    /// </summary>
    internal long LoadCheckpoint(IReadOnlyList<PublicationSchema> publications, Lsn lsn,
        Func<CheckpointReader.TableSink, CheckpointReader.PageSink, long> read, Func<bool>? publish = null)
    {
        lock (_write)
        {
            if (_ready) throw new InvalidOperationException("a checkpoint is loaded only into an empty store");
            BeginSnapshot(publications);
            var schemas = publications.SelectMany(p => p.Tables).DistinctBy(t => t.RelationId).ToDictionary(t => t.RelationId);
            var loaded = new List<(StoredTable, TableSchema)>();
            StoredTable? table = null;
            ulong? seed = null;
            try
            {
                long rows = read(
                    (relationId, versions, hashSeed) =>
                    {
                        if (!schemas.TryGetValue(relationId, out var schema))
                            throw new Core.Checkpoints.CheckpointUnusableException($"checkpoint holds rows of relation {relationId}, which its header does not name");
                        // The pages' hash tags were made with the seed of the store that wrote them: this store, empty, takes it.
                        if (seed is null) _hasher.Adopt(hashSeed);
                        else if (seed != hashSeed) throw new Core.Checkpoints.CheckpointUnusableException("checkpoint holds tables hashed with different seeds");
                        seed = hashSeed;
                        table = _catalog.SnapshotTable(schema);
                        table.Reserve((int)Math.Min(versions, int.MaxValue));
                        loaded.Add((table, schema));
                    },
                    (page, tags) =>
                    {
                        if (table is null) throw new Core.Checkpoints.CheckpointUnusableException("checkpoint holds rows before any table");
                        table.AdoptPage(page, tags);
                    });
                // Tables whose changes name rows by another identity than the key: that index needs every row's key.
                var keys = new RowKeys(_hasher);
                foreach (var (held, schema) in loaded)
                    if (held.Identities is { } identities)
                        foreach (var view in held.NewestViews()) identities.Add(view, keys.Of(view, schema));
                if (publish is not null && !publish())
                {
                    BeginSnapshot([]);
                    return -1;
                }
                Complete(lsn, returnGarbage: false);   // a load from pages leaves no garbage behind
                return rows;
            }
            catch
            {
                BeginSnapshot([]);
                throw;
            }
        }
    }

    // ---------------- writer: snapshot ----------------

    public void BeginSnapshot(IReadOnlyList<PublicationSchema> publications, Lsn? replayFrom = null)
    {
        lock (_write)
        {
            // A store that serves data keeps serving it, unchanged and consistent, until the new snapshot replaces it.
            bool keepServing = _ready;
            _resnapshotting = keepServing;
            _generation++;
            _catalog.Reset(publications, keepServing);
            foreach (var load in _loads.Values.ToList()) load.Abandon();
            _replayFrom = replayFrom;
            _router.Close();
            _replayCopies.Discard();
            _maintenance.Clear();
            if (!keepServing) _visibility.Publish(0);
        }
    }

    public void LoadSnapshotRows(TableSchema schema, IReadOnlyList<byte[]> rows)
    {
        lock (_write) _loader.Load(_catalog.SnapshotTable(schema), schema, rows);
    }

    /// <summary>Rows straight from a copier's batch into the table's pages: no array per row.</summary>
    public void LoadSnapshotRows(TableSchema schema, RowBatch rows)
    {
        lock (_write) _loader.Load(_catalog.SnapshotTable(schema), schema, rows);
    }

    /// <summary>Sizes the table for the rows the copy expects (pg_class.reltuples), capped so a stale estimate cannot cost much.</summary>
    public void ExpectSnapshotRows(TableSchema schema, long estimate)
    {
        if (estimate <= 0) return;
        lock (_write) _catalog.SnapshotTable(schema).Reserve((int)Math.Min(estimate + estimate / 8, 8_000_000));
    }

    public void CompleteSnapshot(Lsn consistentPoint) => Complete(consistentPoint, returnGarbage: true);

    /// <summary>A copy this big made garbage worth giving back before serving (see <see cref="Complete"/>).</summary>
    private const long GarbageWorthReturning = 64L << 20;

    private void Complete(Lsn consistentPoint, bool returnGarbage)
    {
        lock (_write)
        {
            foreach (var table in _catalog.SnapshotTables) table.StampSnapshot(consistentPoint.Value);
            // The copy decoded every row into an array of its own before its bytes went into a page: as much garbage as
            // data. One full compacting collection gives it back to the OS now, not whenever the GC gets to it, and is
            // cheap because the store holds a few large pages rather than an object per row.
            if (returnGarbage && _catalog.SnapshotTables.Sum(t => t.MemoryBytes) >= GarbageWorthReturning)
                GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true);
            // Visibility first: the tables served until now hold nothing above their old visible LSN, and the new ones
            // are readable only once the consistent point is visible.
            _visibility.Publish(consistentPoint.Value);
            Volatile.Write(ref _startLsn, consistentPoint.Value);
            _catalog.PublishReset();
            _resnapshotting = false;
            Feed.Restart(consistentPoint, _replayFrom);
            // Until a checkpoint of this data is valid, a restart could only take a snapshot again: hold the slot here.
            if (_holdSlotForCheckpoints) Volatile.Write(ref _confirmCeiling, consistentPoint.Value);
            if (_replayFrom is { } from) _router.Open(from.Value, consistentPoint.Value);
            _replayFrom = null;
            _ready = true;
        }
    }

    // ---------------- writer: tables loaded beside the stream ----------------

    public ITableLoad BeginTableLoad(TableSchema schema, IReadOnlyList<string> publications)
    {
        lock (_write)
        {
            if (_loads.TryGetValue(schema.RelationId, out var unfinished)) unfinished.Abandon();
            var load = new ShadowLoad(_write, _visibility, _hasher, schema, publications, _loader, _applier,
                forget: l => { if (_loads.TryGetValue(l.Schema.RelationId, out var current) && current == l) _loads.Remove(l.Schema.RelationId); });
            _loads[schema.RelationId] = load;
            return load;
        }
    }

    // ---------------- writer: transactions ----------------

    public TransactionRoute Route(Lsn commitLsn)
    {
        lock (_write) return _router.Route(commitLsn.Value, _visibility.Visible);
    }

    public void Apply(Transaction transaction)
    {
        lock (_write)
        {
            switch (_router.Route(transaction.CommitLsn.Value, _visibility.Visible))
            {
                case TransactionRoute.Apply:
                    ReleaseReplays();   // the window is over: what it replayed goes first
                    ApplyLocked(transaction);
                    break;
                case TransactionRoute.Replay:
                    ReplayLocked(transaction);
                    break;
            }
        }
    }

    /// <summary>Drops versions no reader needs any more. Apply does this itself; call it periodically too,
    /// so versions kept for a pinned reader go once the pin is released.</summary>
    public void Maintain()
    {
        lock (_write)
        {
            _maintenance.Run(_visibility.Visible);
            // Pages whose versions were mostly superseded are copied forward (StoredTable.Compact); at most one table a
            // call, so the writer is held back by one table's copy at a time.
            ulong horizon = _pins.Horizon(_visibility.Visible);
            foreach (var table in _catalog.Tables)
                if (table.Compact(horizon)) break;
        }
    }

    private void ApplyLocked(Transaction transaction)
    {
        // Versions are named by the end of their commit record: above every commit they contain, and (for a commit at
        // a snapshot's consistent point) above the snapshot's own rows.
        ulong lsn = Math.Max(transaction.EndLsn.Value, transaction.CommitLsn.Value + 1);
        var applied = new List<AppliedChange>(Math.Max(transaction.Count, 1));
        foreach (var change in transaction.Changes)
        {
            if (change.Kind != ChangeKind.Load) _applier.Apply(change, lsn, applied);
            else if (_loads.Remove(change.Table.RelationId, out var load) && !load.Abandoned) _swap.Swap(load, lsn, applied);
        }
        _applier.EndTransaction();
        _visibility.Publish(lsn);
        Interlocked.Add(ref _changesApplied, applied.Count);
        Feed.Append(new CommittedTransaction(transaction.Xid, transaction.CommitLsn, transaction.EndLsn, transaction.CommitTime, applied));
        _maintenance.Run(lsn);
    }

    /// <summary>
    /// A transaction the store holds through its snapshot but durable consumers behind it lack: not applied, appended to
    /// the feed, in order, marked as replayed. Its images are what the stream carried (see docs/sinks.md).
    /// </summary>
    private void ReplayLocked(Transaction transaction)
    {
        var changes = new List<AppliedChange>(Math.Max(transaction.Count, 1));
        foreach (var change in transaction.Changes)
            if (_applier.TryDescribe(change, out var described)) changes.Add(described);
        _applier.EndTransaction();
        _router.Replayed(transaction.EndLsn.Value);
        // Copies of rows without primary key are numbered counting back from the snapshot: they wait for the window's end.
        if (_replayCopies.Waiting || _catalog.Tables.Any(t => !t.Schema.HasPrimaryKey))
            _replayCopies.Hold(transaction, changes);
        else
            Feed.AppendReplay(new CommittedTransaction(transaction.Xid, transaction.CommitLsn, transaction.EndLsn, transaction.CommitTime,
                changes, Replayed: true));
    }

    private void ReleaseReplays()
    {
        if (!_replayCopies.Waiting) return;
        foreach (var replayed in _replayCopies.Release()) Feed.AppendReplay(replayed);
    }

    /// <summary>The stream passed <paramref name="position"/> outside a transaction: a replay window that ends at or below
    /// it has delivered everything, so its held replays go to the feed.</summary>
    public void Reached(Lsn position)
    {
        lock (_write)
            if (position.Value >= _visibility.Visible) ReleaseReplays();   // visible is the window's end until it is released
    }
}
