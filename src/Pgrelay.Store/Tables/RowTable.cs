using Pgrelay.Core.Keys;
using Pgrelay.Core.Model;
using Pgrelay.Core.Rows;

namespace Pgrelay.Store.Tables;

/// <summary>
/// Open-addressing hash table of row versions with one writer and lock-free readers.
/// <para>
/// A slot is null (never used), <see cref="Deleted"/> (a removed key; probes continue past it), a bare
/// row array (the key's only version) or a <see cref="VersionNode"/> chain. Every row array carries its
/// key hash and commit LSN in its header, so the table stores nothing else per row. The writer installs
/// versions with LSNs above the store's visible LSN; readers skip those, so a transaction appears at once
/// when the visible LSN moves. Resizing copies into a new array and publishes it; readers re-check the
/// array they read from and retry when it changed.
/// </para>
/// </summary>
internal sealed class RowTable
{
    public static readonly object Deleted = new();

    private readonly SchemaHistory _schemas;
    private object?[] _slots = new object?[16];
    private int _occupied;   // non-null slots, Deleted included

    public RowTable(SchemaHistory schemas) => _schemas = schemas;

    public int Capacity => _slots.Length;

    public object?[] Slots => Volatile.Read(ref _slots);

    public static int Hash(ReadOnlySpan<byte> rowKey)
    {
        var hash = new HashCode();
        hash.AddBytes(rowKey);
        return hash.ToHashCode();
    }

    public static byte[] NewestRow(object slot) => slot as byte[] ?? ((VersionNode)slot).Row;

    /// <summary>Finds the slot value for a key in <paramref name="slots"/>; null when absent.</summary>
    public object? Find(object?[] slots, ReadOnlySpan<byte> rowKey, int hash)
    {
        int mask = slots.Length - 1;
        for (int i = hash & mask, probes = 0; probes <= mask; i = (i + 1) & mask, probes++)
        {
            var slot = Volatile.Read(ref slots[i]);
            if (slot is null) return null;
            if (ReferenceEquals(slot, Deleted)) continue;
            var row = NewestRow(slot);
            if (RowFormat.ReadHash(row) == hash &&
                CacheKey.Matches(new RowView(row), _schemas.For(row), rowKey))
                return slot;
        }
        return null;
    }

    /// <summary>Returned by <see cref="Visible"/> when the chain was pruned below a stale snapshot: read again with a fresh one.</summary>
    public static readonly byte[] Retry = new byte[RowFormat.HeaderSize];

    /// <summary>The version visible at <paramref name="snapshot"/> in a chain, null (absent or deleted) or <see cref="Retry"/>.</summary>
    public static byte[]? Visible(object? slot, ulong snapshot)
    {
        while (slot is not null)
        {
            if (slot is byte[] bare)
                return RowFormat.ReadLsn(bare) <= snapshot && !RowFormat.IsTombstone(bare) ? bare : null;
            // Only an unpinned reader whose snapshot went stale can get here; pinned snapshots are
            // never below the pruning horizon.
            if (ReferenceEquals(slot, VersionNode.Pruned)) return Retry;
            var node = (VersionNode)slot;
            if (RowFormat.ReadLsn(node.Row) <= snapshot)
                return RowFormat.IsTombstone(node.Row) ? null : node.Row;
            slot = Volatile.Read(ref node.Older);
        }
        return null;
    }

    // ---- writer side: called under the store's write lock only ----

    private int IndexOf(ReadOnlySpan<byte> rowKey, int hash)
    {
        var slots = _slots;
        int mask = slots.Length - 1;
        for (int i = hash & mask, probes = 0; probes <= mask; i = (i + 1) & mask, probes++)
        {
            var slot = slots[i];
            if (slot is null) return -1;
            if (ReferenceEquals(slot, Deleted)) continue;
            var row = NewestRow(slot);
            if (RowFormat.ReadHash(row) == hash &&
                CacheKey.Matches(new RowView(row), _schemas.For(row), rowKey))
                return i;
        }
        return -1;
    }

    /// <summary>The newest version of a key, committed or not (null when absent).</summary>
    public byte[]? Newest(ReadOnlySpan<byte> rowKey, int hash)
    {
        int i = IndexOf(rowKey, hash);
        return i < 0 ? null : NewestRow(_slots[i]!);
    }

    /// <summary>Installs <paramref name="row"/> (already stamped with LSN and hash) as the key's newest version.
    /// Returns the previous newest version, or null.</summary>
    public byte[]? Install(ReadOnlySpan<byte> rowKey, int hash, byte[] row)
    {
        int i = IndexOf(rowKey, hash);
        if (i >= 0)
        {
            var old = _slots[i]!;
            Volatile.Write(ref _slots[i], new VersionNode(row, old));
            return NewestRow(old);
        }
        if ((_occupied + 1) * 4 > _slots.Length * 3) Grow();
        var slots = _slots;
        int mask = slots.Length - 1;
        int at = hash & mask;
        while (slots[at] is not null && !ReferenceEquals(slots[at], Deleted)) at = (at + 1) & mask;
        if (slots[at] is null) _occupied++;
        Volatile.Write(ref slots[at], row);
        return null;
    }

    /// <summary>Replaces the key's slot with the bare <paramref name="row"/>, dropping its versions; for rows loaded by a
    /// snapshot that no committed state holds yet. Returns the previous newest version.</summary>
    public byte[]? Replace(ReadOnlySpan<byte> rowKey, int hash, byte[] row)
    {
        int i = IndexOf(rowKey, hash);
        if (i < 0) return Install(rowKey, hash, row);
        var old = _slots[i]!;
        Volatile.Write(ref _slots[i], row);
        return NewestRow(old);
    }

    /// <summary>
    /// Installs a row whose key is known not to be in the table (a snapshot row of a table with a unique replica
    /// identity): no key comparisons, the probe stops at the first free slot without touching any row.
    /// </summary>
    public void InstallNew(int hash, byte[] row)
    {
        if ((_occupied + 1) * 4 > _slots.Length * 3) Grow();
        var slots = _slots;
        int mask = slots.Length - 1;
        int at = hash & mask;
        while (slots[at] is { } taken && !ReferenceEquals(taken, Deleted)) at = (at + 1) & mask;
        if (slots[at] is null) _occupied++;
        Volatile.Write(ref slots[at], row);
    }

    /// <summary>Grows once to hold <paramref name="rows"/> more keys, instead of doubling repeatedly while they arrive.</summary>
    public void Reserve(int rows)
    {
        long needed = ((long)_occupied + rows) * 4 / 3 + 1;
        if (needed <= _slots.Length) return;
        int capacity = _slots.Length;
        while (capacity < needed && capacity < (1 << 30)) capacity <<= 1;
        Grow(capacity);
    }

    /// <summary>
    /// Maintenance: once every reader sees the key's newest version (its LSN at or below
    /// <paramref name="horizon"/>), older versions are dropped, and a deleted key leaves the table.
    /// </summary>
    public void Collapse(ReadOnlySpan<byte> rowKey, int hash, ulong horizon)
    {
        int i = IndexOf(rowKey, hash);
        if (i < 0) return;
        var slot = _slots[i]!;
        var newest = NewestRow(slot);
        if (RowFormat.ReadLsn(newest) > horizon) return;
        if (RowFormat.IsTombstone(newest)) Volatile.Write(ref _slots[i], Deleted);
        else if (slot is VersionNode) Volatile.Write(ref _slots[i], newest);
    }

    /// <summary>
    /// Maintenance for keys whose newest version is still above the horizon: cut the chain below the
    /// newest version every reader can see.
    /// </summary>
    public void Prune(ReadOnlySpan<byte> rowKey, int hash, ulong horizon)
    {
        int i = IndexOf(rowKey, hash);
        if (i < 0 || _slots[i] is not VersionNode node) return;
        while (true)
        {
            if (RowFormat.ReadLsn(node.Row) <= horizon)
            {
                if (node.Older is not null) Volatile.Write(ref node.Older, VersionNode.Pruned);
                return;
            }
            if (node.Older is VersionNode next) node = next;
            else return;
        }
    }

    private void Grow() => Grow(_slots.Length * 2);

    private void Grow(int capacity)
    {
        var old = _slots;
        var grown = new object?[capacity];
        int mask = grown.Length - 1, occupied = 0;
        foreach (var slot in old)
        {
            if (slot is null || ReferenceEquals(slot, Deleted)) continue;
            int at = RowFormat.ReadHash(NewestRow(slot)) & mask;
            while (grown[at] is not null) at = (at + 1) & mask;
            grown[at] = slot;
            occupied++;
        }
        _occupied = occupied;
        Volatile.Write(ref _slots, grown);
    }

    /// <summary>
    /// Redis-style reverse-binary cursor over home buckets: a key present for the whole iteration is
    /// returned at least once even when the table grows between calls. Returns the next cursor (0 = done).
    /// </summary>
    public ulong Scan(ulong cursor, int count, ulong snapshot, List<byte[]> output)
    {
        var slots = Slots;
        ulong mask = (ulong)slots.Length - 1;
        int emitted = 0;
        do
        {
            ulong bucket = cursor & mask;
            for (ulong i = bucket, probes = 0; probes <= mask; i = (i + 1) & mask, probes++)
            {
                var slot = Volatile.Read(ref slots[i]);
                if (slot is null) break;
                if (ReferenceEquals(slot, Deleted)) continue;
                if (((ulong)(uint)RowFormat.ReadHash(NewestRow(slot)) & mask) != bucket) continue;
                var row = Visible(slot, snapshot);
                if (row is not null && !ReferenceEquals(row, Retry)) { output.Add(row); emitted++; }
            }
            cursor |= ~mask;
            cursor = ReverseBits(cursor);
            cursor++;
            cursor = ReverseBits(cursor);
        } while (cursor != 0 && emitted < count);
        return cursor;
    }

    private static ulong ReverseBits(ulong v)
    {
        v = ((v >> 1) & 0x5555555555555555UL) | ((v & 0x5555555555555555UL) << 1);
        v = ((v >> 2) & 0x3333333333333333UL) | ((v & 0x3333333333333333UL) << 2);
        v = ((v >> 4) & 0x0F0F0F0F0F0F0F0FUL) | ((v & 0x0F0F0F0F0F0F0F0FUL) << 4);
        return System.Buffers.Binary.BinaryPrimitives.ReverseEndianness(v);
    }

    /// <summary>Every visible row at <paramref name="snapshot"/>, in slot order.</summary>
    public IEnumerable<byte[]> All(ulong snapshot)
    {
        var slots = Slots;
        for (int i = 0; i < slots.Length; i++)
        {
            var slot = Volatile.Read(ref slots[i]);
            if (slot is null || ReferenceEquals(slot, Deleted)) continue;
            var row = Visible(slot, snapshot);
            if (row is not null && !ReferenceEquals(row, Retry)) yield return row;
        }
    }

    /// <summary>Writer only: gives rows loaded by the snapshot (LSN 0) the snapshot's consistent point, so
    /// their ETag and CAS name the state they came from. Readers are told to wait for readiness meanwhile.</summary>
    public void StampSnapshot(ulong lsn)
    {
        foreach (var slot in _slots)
            if (slot is byte[] row && RowFormat.ReadLsn(row) == 0) RowFormat.WriteLsn(row, lsn);
    }

    /// <summary>Writer only: newest non-deleted rows, for truncate and schema rewrites.</summary>
    public List<byte[]> NewestLiveRows()
    {
        var result = new List<byte[]>();
        foreach (var slot in _slots)
        {
            if (slot is null || ReferenceEquals(slot, Deleted)) continue;
            var row = NewestRow(slot);
            if (!RowFormat.IsTombstone(row)) result.Add(row);
        }
        return result;
    }
}
