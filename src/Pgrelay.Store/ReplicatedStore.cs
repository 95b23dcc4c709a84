using Pgrelay.Core.Changes;
using Pgrelay.Core.Keys;
using Pgrelay.Core.Model;
using Pgrelay.Core.Rows;
using Pgrelay.Store.Feed;
using Pgrelay.Store.Snapshots;
using Pgrelay.Store.Tables;

namespace Pgrelay.Store;

/// <summary>
/// The replicated tables in memory. One writer (replication) applies whole transactions; any number of
/// readers read without locks. Every version carries its commit LSN, and a transaction's versions become
/// visible together when <see cref="VisibleLsn"/> moves to its commit LSN, so no reader sees half of one.
/// </summary>
public sealed class ReplicatedStore : IReplicationTarget
{
    private readonly object _write = new();
    private readonly PinRegistry _pins;
    private readonly RowBuilder _builder = new();
    private readonly Queue<(StoredTable Table, byte[] Row)> _maintenance = new();
    private readonly List<DurableConsumer> _consumers = [];
    private Dictionary<uint, StoredTable> _tables = [];
    private PublicationView[] _publications = [];
    private byte[] _keyBuffer = new byte[256];
    private ulong _visible;
    private ulong _appliedEnd;
    private volatile bool _ready;
    private long _changesApplied;
    private Lsn? _replayFrom;        // set between BeginSnapshot and CompleteSnapshot when streaming resumes below the snapshot
    private ulong _replayUpTo;       // the snapshot point replays end at (0: no replay window)
    private ulong _replayedEnd;      // end LSN of the last replayed transaction (or the replay floor)

    public ChangeFeed Feed { get; } = new();

    public ReplicatedStore() => _pins = new PinRegistry(() => VisibleLsnValue);   // one delegate, not one per pin

    /// <summary>Everything up to this LSN is visible; nothing after it is.</summary>
    public Lsn VisibleLsn => new(VisibleLsnValue);
    internal ulong VisibleLsnValue => Volatile.Read(ref _visible);

    /// <summary>The initial snapshot has been loaded.</summary>
    public bool IsReady => _ready;

    public IReadOnlyList<PublicationView> Publications => Volatile.Read(ref _publications);
    public long ChangesApplied => Interlocked.Read(ref _changesApplied);
    public long TotalRows => Publications.SelectMany(p => p.Tables).Distinct().Sum(t => t.RowCount);
    public long TotalMemoryBytes => Publications.SelectMany(p => p.Tables).Distinct().Sum(t => t.MemoryBytes);
    public IEnumerable<StoredTable> Tables => Publications.SelectMany(p => p.Tables).Distinct();

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
            endLsn = new Lsn(Math.Max(_appliedEnd, pin.Lsn.Value));
            return pin;
        }
    }

    /// <summary>End LSN of the last applied transaction (or the snapshot's consistent point).</summary>
    public Lsn AppliedEndLsn => new(Volatile.Read(ref _appliedEnd));

    public PublicationView? FindPublication(ReadOnlySpan<byte> utf8Name)
    {
        // An array loop, not foreach over the interface: this runs on every read and must not allocate.
        var publications = Volatile.Read(ref _publications);
        for (int i = 0; i < publications.Length; i++)
            if (utf8Name.SequenceEqual(publications[i].Utf8Name)) return publications[i];
        return null;
    }

    public PublicationView? FindPublication(string name) => Publications.FirstOrDefault(p => p.Name == name);

    /// <summary>Splits <c>publication.table.key</c>; <paramref name="rowKeyStart"/> is where the row key begins.</summary>
    public bool TryResolveKey(ReadOnlySpan<byte> fullKey, out PublicationView? publication, out StoredTable? table, out int rowKeyStart)
    {
        publication = null;
        table = null;
        rowKeyStart = 0;
        int dot = fullKey.IndexOf(CacheKey.Separator);
        if (dot <= 0) return false;
        publication = FindPublication(fullKey[..dot]);
        if (publication is null) return false;
        int consumed = publication.MatchTable(fullKey[(dot + 1)..], out table);
        if (consumed == 0) return false;
        rowKeyStart = dot + 1 + consumed;
        return true;
    }

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
        lock (_consumers) _consumers.Add(consumer);
        return consumer;
    }

    internal void Unregister(DurableConsumer consumer)
    {
        lock (_consumers) _consumers.Remove(consumer);
    }

    public Lsn AppliedLsn => VisibleLsn;

    public Lsn SafeToConfirmLsn
    {
        get
        {
            ulong safe = Volatile.Read(ref _appliedEnd);
            lock (_consumers)
                foreach (var c in _consumers) safe = Math.Min(safe, c.Acknowledged.Value);
            return new Lsn(safe);
        }
    }

    // ---------------- writer: snapshot ----------------

    public void BeginSnapshot(IReadOnlyList<PublicationSchema> publications)
    {
        lock (_write)
        {
            _ready = false;
            var tables = new Dictionary<uint, StoredTable>();
            var views = new List<PublicationView>();
            foreach (var publication in publications)
            {
                var members = new List<StoredTable>();
                foreach (var schema in publication.Tables)
                {
                    if (!tables.TryGetValue(schema.RelationId, out var table))
                        tables[schema.RelationId] = table = new StoredTable(this, schema);
                    members.Add(table);
                }
                views.Add(new PublicationView(publication.Name, members));
            }
            _tables = tables;
            _replayFrom = null;
            _replayUpTo = 0;
            _maintenance.Clear();
            Volatile.Write(ref _visible, 0);
            Volatile.Write(ref _appliedEnd, 0);
            Volatile.Write(ref _publications, views.ToArray());
        }
    }

    public void LoadSnapshotRows(TableSchema schema, IReadOnlyList<byte[]> rows)
    {
        lock (_write)
        {
            var table = TableFor(schema);
            // A primary key or replica identity index is unique inside one MVCC snapshot, and the parallel copiers
            // read disjoint page ranges, so those rows go in without looking for their key. REPLICA IDENTITY FULL
            // tables may hold identical rows: they take the checking path.
            if (schema.ReplicaIdentity == ReplicaIdentity.Full)
            {
                foreach (var row in rows) Install(table, schema, row, 0);
                return;
            }
            table.Reserve(rows.Count);
            for (int i = 0; i < rows.Count; i++)
            {
                var row = rows[i];
                int hash = RowTable.Hash(_keyBuffer.AsSpan(0, KeyOf(row, schema)));
                RowFormat.WriteHash(row, hash);
                table.InstallNew(hash, row);
            }
        }
    }

    /// <summary>Sizes the table for the rows the copy expects (pg_class.reltuples), capped so a stale estimate cannot cost much.</summary>
    public void ExpectSnapshotRows(TableSchema schema, long estimate)
    {
        if (estimate <= 0) return;
        lock (_write) TableFor(schema).Reserve((int)Math.Min(estimate + estimate / 8, 8_000_000));
    }

    public void CompleteSnapshot(Lsn consistentPoint)
    {
        lock (_write)
        {
            foreach (var table in _tables.Values) table.StampSnapshot(consistentPoint.Value);
            Volatile.Write(ref _visible, consistentPoint.Value);
            Volatile.Write(ref _appliedEnd, consistentPoint.Value);
            Feed.Restart(consistentPoint, _replayFrom);
            if (_replayFrom is { } from && from < consistentPoint)
            {
                _replayUpTo = consistentPoint.Value;
                _replayedEnd = from.Value;
            }
            _replayFrom = null;
            _ready = true;
        }
    }

    /// <summary>
    /// Streaming will resume from a kept slot at <paramref name="fromEnd"/>, below the snapshot being loaded: the
    /// transactions in between come to <see cref="Replay"/> and durable readers at or above <paramref name="fromEnd"/>
    /// can resume. Call between <see cref="BeginSnapshot"/> and <see cref="CompleteSnapshot"/>.
    /// </summary>
    public void BeginReplay(Lsn fromEnd)
    {
        lock (_write) _replayFrom = fromEnd;
    }

    /// <summary>
    /// A transaction at or below the snapshot (see <see cref="BeginReplay"/>): not applied — the store already holds
    /// it — but appended to the feed, in order, for durable readers that are behind. Transactions already passed on,
    /// or outside the replay window, are ignored; one above the store's position is applied normally.
    /// </summary>
    public void Replay(Transaction transaction)
    {
        lock (_write)
        {
            if (transaction.CommitLsn.Value > _visible)
            {
                Apply(transaction);
                return;
            }
            if (_replayUpTo == 0 || transaction.CommitLsn.Value > _replayUpTo || transaction.EndLsn.Value <= _replayedEnd) return;
            var changes = new List<AppliedChange>(Math.Max(transaction.Count, 1));
            foreach (var change in transaction.Changes)
            {
                var table = TableFor(change.Table);
                changes.Add(change.Kind switch
                {
                    ChangeKind.Insert => new(ChangeKind.Insert, table, change.Table, null, change.NewRow),
                    ChangeKind.Update => new(ChangeKind.Update, table, change.Table, change.OldRow, change.NewRow),
                    ChangeKind.Delete => new(ChangeKind.Delete, table, change.Table, change.OldRow, null),
                    _ => new(change.Kind, table, change.Table, null, null, MissingValues: change.NewRow),
                });
            }
            _replayedEnd = transaction.EndLsn.Value;
            Feed.AppendReplay(new CommittedTransaction(transaction.Xid, transaction.CommitLsn, transaction.EndLsn, transaction.CommitTime,
                changes, Replayed: true));
        }
    }

    // ---------------- writer: transactions ----------------

    public void Apply(Transaction transaction)
    {
        lock (_write)
        {
            ulong lsn = transaction.CommitLsn.Value;
            if (lsn <= _visible) return;   // replayed after a reconnect: already applied
            var applied = new List<AppliedChange>(Math.Max(transaction.Count, 1));
            foreach (var change in transaction.Changes) ApplyChange(change, lsn, applied);
            Volatile.Write(ref _visible, lsn);
            Volatile.Write(ref _appliedEnd, Math.Max(transaction.EndLsn.Value, lsn));
            Interlocked.Add(ref _changesApplied, applied.Count);
            Feed.Append(new CommittedTransaction(transaction.Xid, transaction.CommitLsn, transaction.EndLsn, transaction.CommitTime, applied));
            MaintainLocked();
        }
    }

    /// <summary>Drops versions no reader needs any more. Apply does this itself; call it periodically too,
    /// so versions kept for a pinned reader go once the pin is released.</summary>
    public void Maintain()
    {
        lock (_write) MaintainLocked();
    }

    private void ApplyChange(in RowChange change, ulong lsn, List<AppliedChange> applied)
    {
        var table = TableFor(change.Table);
        switch (change.Kind)
        {
            case ChangeKind.Insert:
            {
                var previous = Install(table, change.Table, change.NewRow!, lsn);
                applied.Add(new(ChangeKind.Insert, table, change.Table, Live(previous), change.NewRow));
                break;
            }
            case ChangeKind.Update:
                ApplyUpdate(table, change, lsn, applied);
                break;
            case ChangeKind.Delete:
            {
                var schema = change.Table;
                int length = KeyOf(change.OldRow!, schema);
                var previous = Live(table.Newest(_keyBuffer.AsSpan(0, length), RowTable.Hash(_keyBuffer.AsSpan(0, length))));
                if (previous is null) break;   // unknown row (filtered, or never there): nothing to delete
                Install(table, schema, Tombstone(previous), lsn);
                applied.Add(new(ChangeKind.Delete, table, schema, previous, null));
                break;
            }
            case ChangeKind.Truncate:
                foreach (var row in table.NewestLiveRows()) Install(table, table.SchemaFor(RowFormat.ReadLsn(row)), Tombstone(row), lsn);
                applied.Add(new(ChangeKind.Truncate, table, table.Schema, null, null));
                break;
            case ChangeKind.Relation:
                var previousSchema = table.Schema;
                ApplyRelation(table, change, lsn);
                applied.Add(new(ChangeKind.Relation, table, change.Table, null, null, previousSchema, change.NewRow));
                break;
        }
    }

    private void ApplyUpdate(StoredTable table, in RowChange change, ulong lsn, List<AppliedChange> applied)
    {
        var schema = change.Table;
        var newRow = change.NewRow!;
        byte[]? previous;
        int newKeyLength = KeyOf(newRow, schema);
        var newKey = _keyBuffer.AsSpan(0, newKeyLength).ToArray();   // the buffer is reused for the old key
        if (change.OldRow is { } oldRow && !CacheKey.Matches(new RowView(oldRow), schema, newKey))
        {
            // The key changed: the old key disappears, the new key appears.
            int oldLength = KeyOf(oldRow, schema);
            previous = Live(table.Newest(_keyBuffer.AsSpan(0, oldLength), RowTable.Hash(_keyBuffer.AsSpan(0, oldLength))));
            if (previous is not null) Install(table, schema, Tombstone(previous), lsn);
        }
        else
        {
            previous = Live(table.Newest(newKey, RowTable.Hash(newKey)));
        }
        var complete = MergeUnchanged(newRow, previous);
        Install(table, schema, complete, lsn);
        applied.Add(new(ChangeKind.Update, table, schema, previous, complete));
    }

    private void ApplyRelation(StoredTable table, in RowChange change, ulong lsn)
    {
        var from = table.Schema;
        var to = change.Table;
        var remapper = new SchemaRemapper(from, to, change.NewRow);
        if (remapper.IsIdentity(from, to) && from.Columns.Select(c => c.Name).SequenceEqual(to.Columns.Select(c => c.Name)) &&
            from.KeyColumns.SequenceEqual(to.KeyColumns))
        {
            table.AddSchema(lsn, to);
            return;
        }
        var rows = table.NewestLiveRows();
        var rewritten = new List<byte[]>(rows.Count);
        foreach (var row in rows) rewritten.Add(remapper.Rewrite(row, _builder));
        // Old keys go (under the old schema), then rows come back under the new one: keys may have changed.
        foreach (var row in rows) Install(table, table.SchemaFor(RowFormat.ReadLsn(row)), Tombstone(row), lsn);
        table.AddSchema(lsn, to);
        foreach (var row in rewritten) Install(table, to, row, lsn);
    }

    /// <summary>Fills columns PostgreSQL left out of an UPDATE (unchanged TOAST values) from the previous version.</summary>
    private byte[] MergeUnchanged(byte[] newRow, byte[]? previous)
    {
        var view = new RowView(newRow);
        int n = view.ColumnCount;
        bool any = false;
        for (int i = 0; i < n && !any; i++) any = view.State(i) == ColumnState.Unchanged;
        if (!any || previous is null) return newRow;
        var old = new RowView(previous);
        for (int i = 0; i < n; i++)
        {
            if (view.State(i) == ColumnState.Unchanged && i < old.ColumnCount) _builder.AddFrom(old, i);
            else _builder.AddFrom(view, i);
        }
        return _builder.Build();
    }

    private static byte[]? Live(byte[]? row) => row is null || RowFormat.IsTombstone(row) ? null : row;

    private static byte[] Tombstone(byte[] row)
    {
        var tombstone = (byte[])row.Clone();   // keeps the key columns, so the slot still knows its key
        tombstone[RowFormat.FlagsOffset] |= RowFormat.Tombstone;
        return tombstone;
    }

    /// <summary>Stamps and installs one version; queues the key for maintenance when it built a chain.</summary>
    private byte[]? Install(StoredTable table, TableSchema schema, byte[] row, ulong lsn)
    {
        int length = KeyOf(row, schema);
        var key = _keyBuffer.AsSpan(0, length);
        int hash = RowTable.Hash(key);
        RowFormat.WriteLsn(row, lsn);
        RowFormat.WriteHash(row, hash);
        var previous = table.Install(key, hash, row);
        if (previous is not null) _maintenance.Enqueue((table, row));
        return previous;
    }

    private int KeyOf(byte[] row, TableSchema schema)
    {
        var view = new RowView(row);
        int length = CacheKey.RowKeyLength(view, schema);
        if (_keyBuffer.Length < length) _keyBuffer = new byte[Math.Max(length, _keyBuffer.Length * 2)];
        return CacheKey.WriteRowKey(view, schema, _keyBuffer);
    }

    private StoredTable TableFor(TableSchema schema)
    {
        if (_tables.TryGetValue(schema.RelationId, out var table)) return table;
        // A relation we did not snapshot (added to the publication while running): start holding it,
        // visible under every publication since pgoutput does not say which one it came through.
        table = new StoredTable(this, schema);
        _tables[schema.RelationId] = table;
        var views = _publications.Select(p => new PublicationView(p.Name, [.. p.Tables, table])).ToArray();
        Volatile.Write(ref _publications, views);
        return table;
    }

    private void MaintainLocked()
    {
        ulong horizon = _pins.Horizon(_visible);
        while (_maintenance.TryPeek(out var entry))
        {
            ulong lsn = RowFormat.ReadLsn(entry.Row);
            if (lsn > horizon) break;
            _maintenance.Dequeue();
            int length = KeyOf(entry.Row, entry.Table.SchemaFor(lsn));
            var key = _keyBuffer.AsSpan(0, length);
            entry.Table.Collapse(key, RowTable.Hash(key), horizon);
        }
    }
}
