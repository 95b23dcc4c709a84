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
    }

    public TableSchema Schema => _schemas.Current;
    public uint RelationId => Schema.RelationId;
    public string KeyName => Schema.KeyName;

    /// <summary>Live rows, counting the transaction being applied.</summary>
    public long RowCount => Interlocked.Read(ref _rowCount);

    /// <summary>Bytes held: row arrays, their headers and the slot array.</summary>
    public long MemoryBytes => Interlocked.Read(ref _rowBytes) + (long)_rows.Capacity * IntPtr.Size;

    public double BytesPerRow => RowCount == 0 ? 0 : (double)MemoryBytes / RowCount;

    internal long KeySetVersion => Interlocked.Read(ref _keySetVersion);
    internal TableSchema SchemaFor(ulong lsn) => _schemas.For(lsn);

    /// <summary>The latest committed version of a row. Safe from any thread; never sees half a transaction.</summary>
    public bool TryGet(ReadOnlySpan<byte> rowKey, out RowRef row)
    {
        int hash = RowTable.Hash(rowKey);
        while (true)
        {
            var slots = _rows.Slots;
            var slot = _rows.Find(slots, rowKey, hash);
            // Read the visible LSN after the slot: versions at or below it are committed and their
            // chains are intact down to the newest committed one (see RowTable).
            ulong visible = _visibility.Visible;
            if (!ReferenceEquals(slots, _rows.Slots)) continue;   // grown meanwhile: read the new array
            var version = RowTable.Visible(slot, visible);
            if (ReferenceEquals(version, RowTable.Retry)) continue;
            return Found(version, out row);
        }
    }

    /// <summary>A row as of a pinned snapshot, for reads of several keys that must agree with each other.</summary>
    public bool TryGet(ReadOnlySpan<byte> rowKey, StorePin pin, out RowRef row)
    {
        var slot = _rows.Find(_rows.Slots, rowKey, RowTable.Hash(rowKey));
        return Found(RowTable.Visible(slot, pin.Lsn.Value), out row);
    }

    private bool Found(byte[]? bytes, out RowRef row)
    {
        row = bytes is null ? default : new RowRef(_schemas.For(RowFormat.ReadLsn(bytes)), bytes);
        return bytes is not null;
    }

    /// <summary>Redis SCAN over this table's rows (cursor 0 starts, 0 returned means done).</summary>
    public ulong Scan(ulong cursor, int count, StorePin pin, List<RowRef> output)
    {
        var rows = new List<byte[]>(Math.Max(count, 10));
        ulong next = _rows.Scan(cursor, count, pin.Lsn.Value, rows);
        foreach (var r in rows) output.Add(new RowRef(_schemas.For(RowFormat.ReadLsn(r)), r));
        return next;
    }

    /// <summary>Every row visible in a pinned snapshot, unordered.</summary>
    public IEnumerable<RowRef> Rows(StorePin pin)
    {
        foreach (var r in _rows.All(pin.Lsn.Value))
            yield return new RowRef(_schemas.For(RowFormat.ReadLsn(r)), r);
    }

    /// <summary>Rows in key order (byte-wise) after <paramref name="afterKey"/>, for paging.</summary>
    public List<RowRef> Page(ReadOnlySpan<byte> afterKey, bool hasAfter, int limit, StorePin pin) =>
        _ordered.Page(afterKey, hasAfter, limit, pin);

    // ---- writer side (store write lock held) ----

    internal byte[]? Newest(ReadOnlySpan<byte> rowKey, int hash) => _rows.Newest(rowKey, hash);

    internal byte[]? Install(ReadOnlySpan<byte> rowKey, int hash, byte[] row)
    {
        var previous = _rows.Install(rowKey, hash, row);
        bool wasLive = previous is not null && !RowFormat.IsTombstone(previous);
        bool isLive = !RowFormat.IsTombstone(row);
        long delta = (isLive ? row.Length + ArrayHeaderBytes : 0) - (wasLive ? previous!.Length + ArrayHeaderBytes : 0);
        if (delta != 0) Interlocked.Add(ref _rowBytes, delta);
        if (wasLive != isLive)
        {
            Interlocked.Add(ref _rowCount, isLive ? 1 : -1);
            Interlocked.Increment(ref _keySetVersion);
        }
        return previous;
    }

    /// <summary>A snapshot row whose key cannot be present yet (see <see cref="RowTable.InstallNew"/>).</summary>
    internal void InstallNew(int hash, byte[] row)
    {
        _rows.InstallNew(hash, row);
        Interlocked.Add(ref _rowBytes, row.Length + ArrayHeaderBytes);
        Interlocked.Increment(ref _rowCount);
        Interlocked.Increment(ref _keySetVersion);
    }

    internal void Reserve(int rows) => _rows.Reserve(rows);

    internal void Collapse(ReadOnlySpan<byte> rowKey, int hash, ulong horizon) => _rows.Collapse(rowKey, hash, horizon);
    internal void Prune(ReadOnlySpan<byte> rowKey, int hash, ulong horizon) => _rows.Prune(rowKey, hash, horizon);
    internal List<byte[]> NewestLiveRows() => _rows.NewestLiveRows();
    internal void StampSnapshot(ulong lsn) => _rows.StampSnapshot(lsn);
    internal void AddSchema(ulong from, TableSchema schema) => _schemas.Add(from, schema);

    /// <summary>Key bytes of a row (for maintenance and ordered paging).</summary>
    internal static int RowKey(byte[] row, TableSchema schema, Span<byte> buffer) =>
        CacheKey.WriteRowKey(new RowView(row), schema, buffer);

    public override string ToString() => Schema.ToString();
}
