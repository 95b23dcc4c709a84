using Pgrelay.Core.Changes;
using Pgrelay.Core.Model;
using Pgrelay.Store.Catalog;
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

    public ChangeFeed Feed { get; } = new();

    public ReplicatedStore()
    {
        var visibility = _visibility;
        _pins = new PinRegistry(() => visibility.Visible);   // one delegate, not one per pin
        _catalog = new StoreCatalog(_visibility);
        var keys = new RowKeys();
        _maintenance = new VersionMaintenance(_pins, keys);
        _applier = new ChangeApplier(_catalog, keys, _maintenance);
        _loader = new SnapshotLoader(keys);
        _swap = new TableSwap(_catalog, _visibility, keys, _applier);
        _replayCopies = new ReplayCopies(_applier, keys);
    }

    /// <summary>Everything up to this LSN is visible; nothing after it is.</summary>
    public Lsn VisibleLsn => new(_visibility.Visible);

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

    public Lsn SafeToConfirmLsn => new(_consumers.Floor(_visibility.Visible));

    // ---------------- writer: snapshot ----------------

    public void BeginSnapshot(IReadOnlyList<PublicationSchema> publications, Lsn? replayFrom = null)
    {
        lock (_write)
        {
            // A store that serves data keeps serving it, unchanged and consistent, until the new snapshot replaces it.
            bool keepServing = _ready;
            _resnapshotting = keepServing;
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

    /// <summary>Sizes the table for the rows the copy expects (pg_class.reltuples), capped so a stale estimate cannot cost much.</summary>
    public void ExpectSnapshotRows(TableSchema schema, long estimate)
    {
        if (estimate <= 0) return;
        lock (_write) _catalog.SnapshotTable(schema).Reserve((int)Math.Min(estimate + estimate / 8, 8_000_000));
    }

    public void CompleteSnapshot(Lsn consistentPoint)
    {
        lock (_write)
        {
            foreach (var table in _catalog.SnapshotTables) table.StampSnapshot(consistentPoint.Value);
            // Visibility first: the tables served until now hold nothing above their old visible LSN, and the new ones
            // are readable only once the consistent point is visible.
            _visibility.Publish(consistentPoint.Value);
            _catalog.PublishReset();
            _resnapshotting = false;
            Feed.Restart(consistentPoint, _replayFrom);
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
            var load = new ShadowLoad(_write, _visibility, schema, publications, _loader, _applier,
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
        lock (_write) _maintenance.Run(_visibility.Visible);
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
