using Pgrelay.Core.Keys;
using Pgrelay.Core.Model;
using Pgrelay.Core.Rows;
using Pgrelay.Store.Snapshots;
using Pgrelay.Store.Writing;

namespace Pgrelay.Store.Tables;

/// <summary>One replicated table held in memory. Reads are lock-free; writes come from the store's single writer.</summary>
public sealed class StoredTable
{
    /// <summary>A heap array's header: what each entry of a writer-side map (<see cref="IdentityIndex"/>) pays per array.</summary>
    internal const int ArrayHeaderBytes = 24;

    private readonly CommitVisibility _visibility;
    private readonly SchemaHistory _schemas;
    /// <summary>The index and pages; replaced whole by <see cref="Compact"/>, so readers take it once per read.</summary>
    private RowTable _rows;
    private long _superseded;   // record bytes the versions installed since the last compaction replaced
    private readonly OrderedKeyIndex _ordered;
    private long _rowCount, _keySetVersion;

    internal StoredTable(CommitVisibility visibility, TableSchema schema, KeyHasher hasher)
    {
        _visibility = visibility;
        _schemas = new SchemaHistory(schema);
        _rows = new RowTable(_schemas, hasher);
        _ordered = new OrderedKeyIndex(this);
        Identities = IdentityIndex.For(schema);
    }

    public TableSchema Schema => _schemas.Current;
    public uint RelationId => Schema.RelationId;
    public string KeyName => Schema.KeyName;

    /// <summary>Live rows (every copy of identical rows), counting the transaction being applied.</summary>
    public long RowCount => Interlocked.Read(ref _rowCount);

    /// <summary>Bytes held: the pages (live and superseded versions, and the unused end of each page), the index, and
    /// the identity index when the table needs one.</summary>
    public long MemoryBytes
    {
        get
        {
            var rows = Volatile.Read(ref _rows);
            return rows.Pages.AllocatedBytes + (long)rows.Capacity * sizeof(ulong) + (Identities?.MemoryBytes ?? 0);
        }
    }

    /// <summary>Bytes of the key index alone (one word per slot, used or not).</summary>
    public long IndexBytes => (long)Volatile.Read(ref _rows).Capacity * sizeof(ulong);

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
    internal TableSchema SchemaOf(RowView view, ulong lsn) => _schemas.For(view.Shape, lsn);
    internal byte ShapeOf(TableSchema schema) => _schemas.ShapeOf(schema);

    /// <summary>The latest committed version of a row. Safe from any thread; never sees half a transaction.</summary>
    public bool TryGet(ReadOnlySpan<byte> rowKey, out RowRef row)
    {
        if (!SplitCopy(rowKey, out var key, out int copy))
        {
            row = default;
            return false;
        }
        int hash = Volatile.Read(ref _rows).Hash(key);
        while (true)
        {
            var rows = Volatile.Read(ref _rows);
            var slots = rows.Slots;
            ulong address = rows.Find(slots, key, hash);
            // Read the visible LSN after the slot: versions at or below it are committed and their
            // chains are intact down to the newest committed one (see RowTable).
            ulong visible = _visibility.Visible;
            // Grown or compacted meanwhile: read the new array (versions at or below the visible LSN may be only there).
            if (!ReferenceEquals(rows, Volatile.Read(ref _rows)) || !ReferenceEquals(slots, rows.Slots)) continue;
            var seen = rows.Visible(address, visible, out var view, out ulong lsn);
            if (seen == RowTable.Seen.Retry) continue;
            return Found(seen, view, lsn, copy, hash, out row);
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
        int hash = Volatile.Read(ref _rows).Hash(key);
        while (true)
        {
            // Any index holds the versions a pin needs: compaction keeps every version at or above the pin horizon.
            var rows = Volatile.Read(ref _rows);
            var seen = rows.Visible(rows.Find(rows.Slots, key, hash), pin.Lsn.Value, out var view, out ulong lsn);
            if (seen != RowTable.Seen.Retry) return Found(seen, view, lsn, copy, hash, out row);
        }
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

    private bool Found(RowTable.Seen seen, RowView view, ulong lsn, int copy, int hash, out RowRef row)
    {
        bool found = seen == RowTable.Seen.Found && view.Copies >= copy;
        row = found ? new RowRef(_schemas.For(view.Shape, lsn), view, lsn, copy, RowTable.TagOf(hash)) : default;
        return found;
    }

    /// <summary>Redis SCAN over this table's rows (cursor 0 starts, 0 returned means done); identical rows come as one
    /// entry per copy.</summary>
    public ulong Scan(ulong cursor, int count, StorePin pin, List<RowRef> output)
    {
        var rows = new List<(RowView, ulong, int)>(Math.Max(count, 10));
        ulong next = Volatile.Read(ref _rows).Scan(cursor, count, pin.Lsn.Value, rows);
        foreach (var (view, lsn, tag) in rows) AddCopies(view, lsn, tag, output);
        return next;
    }

    /// <summary>Every row visible in a pinned snapshot, unordered, one entry per copy of identical rows.</summary>
    public IEnumerable<RowRef> Rows(StorePin pin)
    {
        foreach (var (view, lsn, tag) in Volatile.Read(ref _rows).All(pin.Lsn.Value))
        {
            var schema = _schemas.For(view.Shape, lsn);
            int copies = view.Copies;
            for (int copy = 1; copy <= copies; copy++) yield return new RowRef(schema, view, lsn, copy, tag);
        }
    }

    private void AddCopies(RowView view, ulong lsn, int tag, List<RowRef> output)
    {
        var schema = _schemas.For(view.Shape, lsn);
        int copies = view.Copies;
        for (int copy = 1; copy <= copies; copy++) output.Add(new RowRef(schema, view, lsn, copy, tag));
    }

    /// <summary>Rows in key order (byte-wise) after <paramref name="afterKey"/>, for paging.</summary>
    public List<RowRef> Page(ReadOnlySpan<byte> afterKey, bool hasAfter, int limit, StorePin pin) =>
        _ordered.Page(afterKey, hasAfter, limit, pin);

    // ---- writer side (store write lock held) ----

    /// <summary>The newest version of a key, committed or not, as a row array the writer may keep (null when absent).
    /// A copy out of the page: the writer keeps previous versions for the feed and its own bookkeeping.</summary>
    internal byte[]? Newest(ReadOnlySpan<byte> rowKey, int hash)
    {
        ulong address = _rows.Newest(rowKey, hash);
        return address == 0 ? null : RowFormat.ToArray(_rows.ViewOf(address), _rows.LsnOf(address), hash);
    }

    /// <summary>A version's body in its page, by address (writer only).</summary>
    internal RowView ViewOf(ulong address) => _rows.ViewOf(address);

    /// <summary>How many live rows the newest version of a key stands for (0: absent or deleted), without copying it.</summary>
    internal int LiveCopies(ReadOnlySpan<byte> rowKey, int hash)
    {
        ulong address = _rows.Newest(rowKey, hash);
        if (address == 0) return 0;
        var view = _rows.ViewOf(address);
        return view.IsTombstone ? 0 : view.Copies;
    }

    /// <summary>Appends <paramref name="row"/> as the key's newest version; returns the previous newest one's address (0:
    /// none).</summary>
    internal ulong Install(ReadOnlySpan<byte> rowKey, int hash, byte[] row)
    {
        ulong previous = _rows.Install(rowKey, hash, row);
        Account(previous, row);
        return previous;
    }

    /// <summary>Snapshot loading only: one more copy of a row already loaded, in place of its version (rows not yet
    /// stamped belong to no committed state, so no reader needs the old count kept as a version).</summary>
    internal void ReplaceLoaded(ReadOnlySpan<byte> rowKey, int hash, byte[] row) => Account(_rows.Replace(rowKey, hash, row), row);

    private void Account(ulong previous, byte[] row)
    {
        var before = previous == 0 ? default : _rows.ViewOf(previous);
        if (!before.IsDefault) _superseded += before.Body.Length + 1;
        int copies = (RowFormat.IsTombstone(row) ? 0 : RowFormat.ReadCopies(row)) - (before.IsDefault || before.IsTombstone ? 0 : before.Copies);
        if (copies != 0)
        {
            Interlocked.Add(ref _rowCount, copies);
            Interlocked.Increment(ref _keySetVersion);
        }
    }

    /// <summary>A snapshot or checkpoint row whose key cannot be present yet (see <see cref="RowTable.InstallNew"/>):
    /// <paramref name="body"/> is the row's body (<see cref="RowFormat.BodyOffset"/> on), <paramref name="lsn"/> its LSN (0
    /// for a snapshot row not stamped yet).</summary>
    internal void InstallNew(int hash, ReadOnlySpan<byte> body, ulong lsn)
    {
        ulong address = _rows.InstallNew(hash, body, lsn);
        Interlocked.Add(ref _rowCount, _rows.ViewOf(address).Copies);   // a checkpoint's version may stand for identical rows
        Interlocked.Increment(ref _keySetVersion);
    }

    /// <summary>Writer only: finds rows by their replica identity when an UPDATE's or DELETE's old row does not carry the
    /// key (null when it does). Rebuilt with the table's shape.</summary>
    internal IdentityIndex? Identities { get; set; }

    internal void Reserve(int rows) => _rows.Reserve(rows);

    internal void Collapse(ReadOnlySpan<byte> rowKey, int hash, ulong horizon) => _rows.Collapse(rowKey, hash, horizon);
    internal void Prune(ReadOnlySpan<byte> rowKey, int hash, ulong horizon) => _rows.Prune(rowKey, hash, horizon);
    /// <summary>Writer only: the newest live versions as row arrays the writer may keep, for truncate and schema rewrites.</summary>
    internal List<byte[]> NewestLiveRows()
    {
        var addresses = _rows.NewestLive();
        var rows = new List<byte[]>(addresses.Count);
        foreach (ulong address in addresses) rows.Add(RowFormat.ToArray(_rows.ViewOf(address), _rows.LsnOf(address), 0));
        return rows;
    }

    /// <summary>The row versions visible at a pin, one per key (copies of identical rows stay one version).</summary>
    internal IEnumerable<(RowView Row, ulong Lsn, int Tag)> Versions(StorePin pin) => Volatile.Read(ref _rows).All(pin.Lsn.Value);

    /// <summary>Checkpoint loading only: serves a page image read from a checkpoint as it is (see
    /// <see cref="RowTable.AdoptPage"/>); every key in it is new to the table.</summary>
    internal void AdoptPage(byte[] page, ReadOnlySpan<int> tags)
    {
        long copies = _rows.AdoptPage(page, tags);
        Interlocked.Add(ref _rowCount, copies);
        Interlocked.Increment(ref _keySetVersion);
    }

    /// <summary>Every version of the table, newest only (a loaded table has one per key), for building the identity index
    /// after a checkpoint load.</summary>
    internal IEnumerable<RowView> NewestViews()
    {
        foreach (ulong address in _rows.NewestLive()) yield return _rows.ViewOf(address);
    }
    internal void StampSnapshot(ulong lsn) => _rows.StampSnapshot(lsn);

    /// <summary>Superseded bytes that make a compaction worth its copy: at least this much, and at least half the pages.</summary>
    internal const long CompactionFloorBytes = 4 << 20;

    /// <summary>
    /// Writer only: when superseded versions fill about half the pages, copies the versions readers can still need
    /// (each key's chain down to its newest version at or below <paramref name="horizon"/>) into new pages and a new
    /// index, and publishes them at once. Readers holding the old ones finish on them (they hold every version they
    /// can need); the old pages go when the last of them lets go. Returns true when it compacted.
    /// </summary>
    internal bool Compact(ulong horizon, bool force = false)
    {
        if (!force && (_superseded < CompactionFloorBytes || _superseded * 2 < _rows.Pages.AllocatedBytes)) return false;
        Volatile.Write(ref _rows, _rows.Rewrite(horizon, out _superseded));
        return true;
    }
    internal void AddSchema(ulong from, TableSchema schema) => _schemas.Add(from, schema);

    public override string ToString() => Schema.ToString();
}
