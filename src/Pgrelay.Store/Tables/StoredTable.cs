using Pgrelay.Core.Keys;
using Pgrelay.Core.Model;
using Pgrelay.Core.Rows;
using Pgrelay.Store.Snapshots;
using Pgrelay.Store.Writing;

namespace Pgrelay.Store.Tables;

/// <summary>One replicated table held in memory. Reads are lock-free; writes come from the store's single writer.</summary>
public sealed class StoredTable
{
    /// <summary>Per-row overhead besides the row array's bytes: the array header and a slot at 3/4 load.</summary>
    internal const int ArrayHeaderBytes = 24;

    private readonly CommitVisibility _visibility;
    private readonly SchemaHistory _schemas;
    private readonly RowTable _rows;
    private readonly OrderedKeyIndex _ordered;
    private long _rowCount, _rowBytes, _keySetVersion;

    internal StoredTable(CommitVisibility visibility, TableSchema schema)
    {
        _visibility = visibility;
        _schemas = new SchemaHistory(schema);
        _rows = new RowTable(_schemas);
        _ordered = new OrderedKeyIndex(this);
        Identities = IdentityIndex.For(schema);
    }

    public TableSchema Schema => _schemas.Current;
    public uint RelationId => Schema.RelationId;
    public string KeyName => Schema.KeyName;

    /// <summary>Live rows (every copy of identical rows), counting the transaction being applied.</summary>
    public long RowCount => Interlocked.Read(ref _rowCount);

    /// <summary>Bytes held: row arrays, their headers, the slot array, and the identity index when the table needs one.</summary>
    public long MemoryBytes => Interlocked.Read(ref _rowBytes) + (long)_rows.Capacity * IntPtr.Size + (Identities?.MemoryBytes ?? 0);

    public double BytesPerRow => RowCount == 0 ? 0 : (double)MemoryBytes / RowCount;

    /// <summary>
    /// Writer only. Set when a relation change made the held rows unreadable as the stream now describes them (columns
    /// added, dropped, retyped...): the table keeps serving its rows as they were, its changes are not applied, and a load
    /// beside the stream replaces it (see <see cref="Writing.TableSwap"/>).
    /// </summary>
    internal bool AwaitingReload { get; set; }

    internal long KeySetVersion => Interlocked.Read(ref _keySetVersion);
    /// <summary>The schema a version was encoded for.</summary>
    internal TableSchema SchemaOf(byte[] row) => _schemas.For(row);
    internal byte ShapeOf(TableSchema schema) => _schemas.ShapeOf(schema);

    /// <summary>The latest committed version of a row. Safe from any thread; never sees half a transaction.</summary>
    public bool TryGet(ReadOnlySpan<byte> rowKey, out RowRef row)
    {
        if (!SplitCopy(rowKey, out var key, out int copy))
        {
            row = default;
            return false;
        }
        int hash = RowTable.Hash(key);
        while (true)
        {
            var slots = _rows.Slots;
            var slot = _rows.Find(slots, key, hash);
            // Read the visible LSN after the slot: versions at or below it are committed and their
            // chains are intact down to the newest committed one (see RowTable).
            ulong visible = _visibility.Visible;
            if (!ReferenceEquals(slots, _rows.Slots)) continue;   // grown meanwhile: read the new array
            var version = RowTable.Visible(slot, visible);
            if (ReferenceEquals(version, RowTable.Retry)) continue;
            return Found(version, copy, out row);
        }
    }

    /// <summary>A row as of a pinned snapshot, for reads of several keys that must agree with each other.</summary>
    public bool TryGet(ReadOnlySpan<byte> rowKey, StorePin pin, out RowRef row)
    {
        if (!SplitCopy(rowKey, out var key, out int copy))
        {
            row = default;
            return false;
        }
        var slot = _rows.Find(_rows.Slots, key, RowTable.Hash(key));
        return Found(RowTable.Visible(slot, pin.Lsn.Value), copy, out row);
    }

    /// <summary>The key proper and the copy a row key names: identical rows of a table without primary key share one
    /// version, and their keys differ only by a copy part (see <see cref="CacheKey"/>).</summary>
    private bool SplitCopy(ReadOnlySpan<byte> rowKey, out ReadOnlySpan<byte> key, out int copy)
    {
        var schema = Schema;
        if (schema.HasPrimaryKey)
        {
            key = rowKey;
            copy = 1;
            return true;
        }
        int length = CacheKey.SplitCopy(rowKey, schema, out copy);
        key = length < 0 ? default : rowKey[..length];
        return length >= 0;
    }

    private bool Found(byte[]? bytes, int copy, out RowRef row)
    {
        bool found = bytes is not null && RowFormat.ReadCopies(bytes) >= copy;
        row = found ? new RowRef(_schemas.For(bytes!), bytes!, copy) : default;
        return found;
    }

    /// <summary>Redis SCAN over this table's rows (cursor 0 starts, 0 returned means done); identical rows come as one
    /// entry per copy.</summary>
    public ulong Scan(ulong cursor, int count, StorePin pin, List<RowRef> output)
    {
        var rows = new List<byte[]>(Math.Max(count, 10));
        ulong next = _rows.Scan(cursor, count, pin.Lsn.Value, rows);
        foreach (var r in rows) AddCopies(r, output);
        return next;
    }

    /// <summary>Every row visible in a pinned snapshot, unordered, one entry per copy of identical rows.</summary>
    public IEnumerable<RowRef> Rows(StorePin pin)
    {
        foreach (var r in _rows.All(pin.Lsn.Value))
        {
            var schema = _schemas.For(r);
            int copies = RowFormat.ReadCopies(r);
            for (int copy = 1; copy <= copies; copy++) yield return new RowRef(schema, r, copy);
        }
    }

    private void AddCopies(byte[] row, List<RowRef> output)
    {
        var schema = _schemas.For(row);
        int copies = RowFormat.ReadCopies(row);
        for (int copy = 1; copy <= copies; copy++) output.Add(new RowRef(schema, row, copy));
    }

    /// <summary>Rows in key order (byte-wise) after <paramref name="afterKey"/>, for paging.</summary>
    public List<RowRef> Page(ReadOnlySpan<byte> afterKey, bool hasAfter, int limit, StorePin pin) =>
        _ordered.Page(afterKey, hasAfter, limit, pin);

    // ---- writer side (store write lock held) ----

    internal byte[]? Newest(ReadOnlySpan<byte> rowKey, int hash) => _rows.Newest(rowKey, hash);

    internal byte[]? Install(ReadOnlySpan<byte> rowKey, int hash, byte[] row)
    {
        var previous = _rows.Install(rowKey, hash, row);
        Account(previous, row);
        return previous;
    }

    /// <summary>Snapshot loading only: one more copy of a row already loaded, in place of its version (rows not yet
    /// stamped belong to no committed state, so no reader needs the old count kept as a version).</summary>
    internal void ReplaceLoaded(ReadOnlySpan<byte> rowKey, int hash, byte[] row) => Account(_rows.Replace(rowKey, hash, row), row);

    private void Account(byte[]? previous, byte[] row)
    {
        bool wasLive = previous is not null && !RowFormat.IsTombstone(previous);
        bool isLive = !RowFormat.IsTombstone(row);
        long delta = (isLive ? row.Length + ArrayHeaderBytes : 0) - (wasLive ? previous!.Length + ArrayHeaderBytes : 0);
        if (delta != 0) Interlocked.Add(ref _rowBytes, delta);
        int copies = (isLive ? RowFormat.ReadCopies(row) : 0) - (wasLive ? RowFormat.ReadCopies(previous!) : 0);
        if (copies != 0)
        {
            Interlocked.Add(ref _rowCount, copies);
            Interlocked.Increment(ref _keySetVersion);
        }
    }

    /// <summary>A snapshot or checkpoint row whose key cannot be present yet (see <see cref="RowTable.InstallNew"/>).</summary>
    internal void InstallNew(int hash, byte[] row)
    {
        _rows.InstallNew(hash, row);
        Interlocked.Add(ref _rowBytes, row.Length + ArrayHeaderBytes);
        Interlocked.Add(ref _rowCount, RowFormat.ReadCopies(row));   // a checkpoint's version may stand for identical rows
        Interlocked.Increment(ref _keySetVersion);
    }

    /// <summary>Writer only: finds rows by their replica identity when an UPDATE's or DELETE's old row does not carry the
    /// key (null when it does). Rebuilt with the table's shape.</summary>
    internal IdentityIndex? Identities { get; set; }

    internal void Reserve(int rows) => _rows.Reserve(rows);

    internal void Collapse(ReadOnlySpan<byte> rowKey, int hash, ulong horizon) => _rows.Collapse(rowKey, hash, horizon);
    internal void Prune(ReadOnlySpan<byte> rowKey, int hash, ulong horizon) => _rows.Prune(rowKey, hash, horizon);
    internal List<byte[]> NewestLiveRows() => _rows.NewestLiveRows();
    /// <summary>The row versions visible at a pin, one per key (copies of identical rows stay one version).</summary>
    internal IEnumerable<byte[]> Versions(StorePin pin) => _rows.All(pin.Lsn.Value);
    internal void StampSnapshot(ulong lsn) => _rows.StampSnapshot(lsn);
    internal void AddSchema(ulong from, TableSchema schema) => _schemas.Add(from, schema);

    public override string ToString() => Schema.ToString();
}
