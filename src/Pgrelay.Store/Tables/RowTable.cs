using System.Buffers;
using Pgrelay.Core.Keys;
using Pgrelay.Core.Model;
using Pgrelay.Core.Rows;
using Pgrelay.Store.Pages;

namespace Pgrelay.Store.Tables;

/// <summary>
/// Open-addressing hash index over a table's pages (<see cref="RowPages"/>), with one writer and lock-free readers.
/// <para>
/// A slot is one word: 0 (never used), <see cref="Deleted"/> (a removed key; probes continue past it), or the address of
/// the key's newest version with the top <see cref="TagBits"/> bits of its key hash above it
/// (<c>tag &lt;&lt; 40 | address</c>), so a probe compares keys only when the tags agree, and growing the index (up to
/// 2^24 slots) never reads a record.
/// </para>
/// <para>
/// A key's home slot is its hash scaled to the capacity (<see cref="Home"/>), not the hash modulo a power of two: the
/// capacity can be any size, so a table is sized to its rows (85 % full at most, 80 % after a reservation; 8 B / 0.8 =
/// 10 B per key) instead of up to half empty (16 B per key at 1M rows with 2^21 slots). Homes keep the keys in hash
/// order at every capacity, which is what SCAN's cursor stands on (<see cref="Scan"/>). Older versions hang off the newest one through the previous-address field of
/// each record (<see cref="PageFormat"/>). The writer appends versions with LSNs above the store's visible LSN; readers
/// skip those, so a transaction appears at once when the visible LSN moves. Resizing copies into a new array and
/// publishes it; readers re-check the array they read from and retry when it changed.
/// </para>
/// </summary>
internal sealed class RowTable
{
    public const ulong Deleted = 1;   // page 0 holds no records, so no address is 1
    public const int TagBits = 64 - PageFormat.AddressBits;
    private const ulong TagMask = (1UL << TagBits) - 1;
    /// <summary>How many tags there are: while the capacity is at most this, a home follows from the tag alone.</summary>
    private const int TagSpace = 1 << TagBits;
    private const int MinCapacity = 16;
    /// <summary>Grow past this (Deleted slots count): with tags, linear probing stays short (about 4 slots per hit and
    /// 23 per miss at 85 %, a few cache lines of one array).</summary>
    private const int MaxLoadPercent = 85;
    /// <summary>How full a reservation leaves the index when the rows it was made for have arrived.</summary>
    private const int ReservedLoadPercent = 80;
    private const int MaxCapacity = 1 << 30;

    private readonly SchemaHistory _schemas;
    private readonly RowPages _pages = new();
    private ulong[] _slots = new ulong[MinCapacity];
    private int _occupied;   // non-zero slots, Deleted included
    private byte[] _keyScratch = new byte[256];

    private readonly KeyHasher _hasher;

    public RowTable(SchemaHistory schemas, KeyHasher hasher)
    {
        _schemas = schemas;
        _hasher = hasher;
    }

    public int Capacity => _slots.Length;
    public RowPages Pages => _pages;

    public ulong[] Slots => Volatile.Read(ref _slots);

    public int Hash(ReadOnlySpan<byte> rowKey) => _hasher.Hash(rowKey);

    private static ulong Entry(int hash, ulong address) => (ulong)(uint)TagOf(hash) << PageFormat.AddressBits | address;
    public static ulong AddressOf(ulong entry) => entry & PageFormat.AddressMask;
    public static int TagOf(ulong entry) => (int)(entry >> PageFormat.AddressBits);
    public static int TagOf(int hash) => (int)((uint)hash >> (32 - TagBits));
    private static bool TagMatches(ulong entry, int hash) => entry >> PageFormat.AddressBits == (uint)hash >> (32 - TagBits);

    /// <summary>A key's home slot: its hash scaled to the capacity (multiply and shift, no division). Monotone in the
    /// hash, so slot order is hash order at any capacity; up to <see cref="TagSpace"/> slots it is the tag's scaled.</summary>
    public static int Home(int hash, int capacity) =>
        capacity <= TagSpace ? HomeOfTag(TagOf(hash), capacity) : (int)(((ulong)(uint)hash * (uint)capacity) >> 32);

    private static int HomeOfTag(int tag, int capacity) => (int)(((ulong)(uint)tag * (uint)capacity) >> TagBits);

    private static int Next(int slot, int capacity) => slot + 1 == capacity ? 0 : slot + 1;

    private static bool Full(int occupied, int capacity) => (long)occupied * 100 > (long)capacity * MaxLoadPercent;

    private void GrowIfFull()
    {
        if (Full(_occupied + 1, _slots.Length)) Grow((int)Math.Min(MaxCapacity, _slots.Length + (long)_slots.Length / 2));
    }

    /// <summary>The schema a record's body was encoded for.</summary>
    public TableSchema SchemaOf(RowView view, ulong lsn) => _schemas.For(view.Shape, lsn);

    /// <summary>Finds the newest version's address for a key in <paramref name="slots"/>; 0 when absent, or when a page
    /// went away meanwhile (the caller reads again).</summary>
    public ulong Find(ulong[] slots, ReadOnlySpan<byte> rowKey, int hash)
    {
        int capacity = slots.Length;
        for (int i = Home(hash, capacity), probes = 0; probes < capacity; i = Next(i, capacity), probes++)
        {
            ulong entry = Volatile.Read(ref slots[i]);
            if (entry == 0) return 0;
            if (entry == Deleted || !TagMatches(entry, hash)) continue;
            if (KeyMatches(AddressOf(entry), rowKey)) return AddressOf(entry);
        }
        return 0;
    }

    private bool KeyMatches(ulong address, ReadOnlySpan<byte> rowKey)
    {
        var page = _pages.PageOf(address);
        if (page is null) return false;
        int record = PageFormat.OffsetOf(address);
        var view = PageFormat.ViewOf(page, record);
        return CacheKey.Matches(view, _schemas.For(view.Shape, PageFormat.LsnOf(page, record)), rowKey);
    }

    /// <summary>What <see cref="Visible"/> found.</summary>
    public enum Seen { Absent, Found, Retry }

    /// <summary>The version visible at <paramref name="snapshot"/> in the chain starting at <paramref name="address"/>:
    /// Found (with its body and LSN), Absent (no version, or deleted), or Retry (the chain was pruned below a stale
    /// snapshot: read again with a fresh one).</summary>
    public Seen Visible(ulong address, ulong snapshot, out RowView row, out ulong lsn)
    {
        row = default;
        lsn = 0;
        while (address != 0)
        {
            // Only an unpinned reader whose snapshot went stale can get here; pinned snapshots are
            // never below the pruning horizon.
            if (address == PageFormat.Pruned) return Seen.Retry;
            var page = _pages.PageOf(address);
            if (page is null) return Seen.Retry;
            int record = PageFormat.OffsetOf(address);
            lsn = PageFormat.LsnOf(page, record);
            if (lsn <= snapshot)
            {
                row = PageFormat.ViewOf(page, record);
                return row.IsTombstone ? Seen.Absent : Seen.Found;
            }
            address = PageFormat.PreviousOf(page, record);
        }
        return Seen.Absent;
    }

    // ---- writer side: called under the store's write lock only ----

    private int IndexOf(ReadOnlySpan<byte> rowKey, int hash)
    {
        var slots = _slots;
        int capacity = slots.Length;
        for (int i = Home(hash, capacity), probes = 0; probes < capacity; i = Next(i, capacity), probes++)
        {
            ulong entry = slots[i];
            if (entry == 0) return -1;
            if (entry == Deleted || !TagMatches(entry, hash)) continue;
            if (KeyMatches(AddressOf(entry), rowKey)) return i;
        }
        return -1;
    }

    /// <summary>The newest version of a key, committed or not: its address, 0 when absent.</summary>
    public ulong Newest(ReadOnlySpan<byte> rowKey, int hash)
    {
        int i = IndexOf(rowKey, hash);
        return i < 0 ? 0 : AddressOf(_slots[i]);
    }

    public RowView ViewOf(ulong address) => _pages.ViewOf(address);
    public ulong LsnOf(ulong address) => _pages.LsnOf(address);

    /// <summary>Appends <paramref name="row"/> (a row array, stamped with its LSN) as the key's newest version.
    /// Returns the previous newest version's address, or 0.</summary>
    public ulong Install(ReadOnlySpan<byte> rowKey, int hash, byte[] row)
    {
        ulong lsn = RowFormat.ReadLsn(row);
        var body = row.AsSpan(RowFormat.BodyOffset);
        int i = IndexOf(rowKey, hash);
        if (i >= 0)
        {
            ulong old = AddressOf(_slots[i]);
            Volatile.Write(ref _slots[i], Entry(hash, _pages.Append(body, lsn, old)));
            return old;
        }
        Add(hash, _pages.Append(body, lsn, 0));
        return 0;
    }

    /// <summary>Replaces the key's versions with <paramref name="row"/> alone; for rows loaded by a snapshot that no
    /// committed state holds yet. Returns the previous newest version's address, or 0.</summary>
    public ulong Replace(ReadOnlySpan<byte> rowKey, int hash, byte[] row)
    {
        int i = IndexOf(rowKey, hash);
        if (i < 0) return Install(rowKey, hash, row);
        ulong old = AddressOf(_slots[i]);
        Volatile.Write(ref _slots[i], Entry(hash, _pages.Append(row.AsSpan(RowFormat.BodyOffset), RowFormat.ReadLsn(row), 0)));
        return old;
    }

    /// <summary>
    /// Installs a row whose key is known not to be in the table (a snapshot row of a table with a unique replica
    /// identity): no key comparisons, the probe stops at the first free slot without touching any row.
    /// </summary>
    public ulong InstallNew(int hash, ReadOnlySpan<byte> body, ulong lsn)
    {
        ulong address = _pages.Append(body, lsn, 0);
        Add(hash, address);
        return address;
    }

    private void Add(int hash, ulong address)
    {
        GrowIfFull();
        var slots = _slots;
        int capacity = slots.Length;
        int at = Home(hash, capacity);
        while (slots[at] != 0 && slots[at] != Deleted) at = Next(at, capacity);
        if (slots[at] == 0) _occupied++;
        Volatile.Write(ref slots[at], Entry(hash, address));
    }

    /// <summary>
    /// Checkpoint loading only: serves <paramref name="page"/> (a page image with one version per key, every key new to
    /// the table) in place, and indexes its records by their hash tags, <paramref name="tags"/>, made with this table's
    /// seed: no key is computed while the index fits the tags (2^24 slots). Returns the rows its versions stand for.
    /// </summary>
    public long AdoptPage(byte[] page, ReadOnlySpan<int> tags)
    {
        int number = _pages.Adopt(page);
        int used = System.Buffers.Binary.BinaryPrimitives.ReadInt32LittleEndian(page.AsSpan(PageFormat.UsedOffset));
        if (used > page.Length || used < PageFormat.HeaderSize) throw new InvalidDataException("a page image says it holds more than it does");
        long copies = 0;
        int at = PageFormat.HeaderSize;
        foreach (int tag in tags)
        {
            if (at >= used) throw new InvalidDataException("a page image holds fewer records than its tags");
            var view = PageFormat.ViewOf(page, at);
            var body = view.Body;
            copies += view.Copies;
            ulong address = PageFormat.Address(number, at);
            GrowIfFull();
            var slots = _slots;
            ulong entry = ((uint)tag & TagMask) << PageFormat.AddressBits | address;
            int home = HomeOf(entry, slots.Length);
            while (slots[home] != 0) home = Next(home, slots.Length);
            slots[home] = entry;
            _occupied++;
            at += PageFormat.RecordSize(at, page[at], body.Length);
        }
        if (at != used) throw new InvalidDataException("a page image holds more records than its tags");
        return copies;
    }

    /// <summary>Grows once to hold <paramref name="rows"/> more keys, instead of doubling repeatedly while they arrive.</summary>
    public void Reserve(int rows)
    {
        long needed = ((long)_occupied + rows) * 100 / ReservedLoadPercent + 1;
        if (needed <= _slots.Length) return;
        // At least by half: a load reserving batch by batch (no estimate) must not rehash the index for every batch.
        Grow((int)Math.Min(Math.Max(needed, _slots.Length + (long)_slots.Length / 2), MaxCapacity));
    }

    /// <summary>
    /// Maintenance: once every reader sees the key's newest version (its LSN at or below
    /// <paramref name="horizon"/>), older versions are dropped, and a deleted key leaves the table.
    /// </summary>
    public void Collapse(ReadOnlySpan<byte> rowKey, int hash, ulong horizon)
    {
        int i = IndexOf(rowKey, hash);
        if (i < 0) return;
        ulong newest = AddressOf(_slots[i]);
        var page = _pages.PageOf(newest)!;
        int record = PageFormat.OffsetOf(newest);
        if (PageFormat.LsnOf(page, record) > horizon) return;
        if (PageFormat.ViewOf(page, record).IsTombstone) Volatile.Write(ref _slots[i], Deleted);
        else if (PageFormat.PreviousOf(page, record) is not 0 and not PageFormat.Pruned) PageFormat.CutPrevious(page, record);
    }

    /// <summary>
    /// Maintenance for keys whose newest version is still above the horizon: cut the chain below the
    /// newest version every reader can see.
    /// </summary>
    public void Prune(ReadOnlySpan<byte> rowKey, int hash, ulong horizon)
    {
        int i = IndexOf(rowKey, hash);
        if (i < 0) return;
        ulong address = AddressOf(_slots[i]);
        while (address is not 0 and not PageFormat.Pruned)
        {
            var page = _pages.PageOf(address)!;
            int record = PageFormat.OffsetOf(address);
            ulong previous = PageFormat.PreviousOf(page, record);
            if (PageFormat.LsnOf(page, record) <= horizon)
            {
                if (previous is not 0 and not PageFormat.Pruned) PageFormat.CutPrevious(page, record);
                return;
            }
            address = previous;
        }
    }

    private void Grow(int capacity)
    {
        var old = _slots;
        var grown = new ulong[capacity];
        int occupied = 0;
        foreach (ulong entry in old)
        {
            if (entry == 0 || entry == Deleted) continue;
            int at = HomeOf(entry, capacity);
            while (grown[at] != 0) at = Next(at, capacity);
            grown[at] = entry;
            occupied++;
        }
        _occupied = occupied;
        Volatile.Write(ref _slots, grown);
    }

    /// <summary>The slot an entry's probe starts at: from its tag while the index is small enough, else from its key.</summary>
    private int HomeOf(ulong entry, int capacity) =>
        capacity <= TagSpace ? HomeOfTag(TagOf(entry), capacity) : Home(FullHash(AddressOf(entry)), capacity);

    /// <summary>The key hash of the record at <paramref name="address"/>, computed from its key (tables beyond 2^24 slots).</summary>
    private int FullHash(ulong address)
    {
        var page = _pages.PageOf(address);
        if (page is null) return 0;
        int record = PageFormat.OffsetOf(address);
        var view = PageFormat.ViewOf(page, record);
        var schema = _schemas.For(view.Shape, PageFormat.LsnOf(page, record));
        int length = CacheKey.RowKeyLength(view, schema);
        var buffer = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            return Hash(buffer.AsSpan(0, CacheKey.WriteRowKey(view, schema, buffer)));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// SCAN: the cursor is a place in hash order, a tag (the key hash's top <see cref="TagBits"/> bits). A step returns
    /// the visible keys whose tags lie in [cursor, next) and then next; 0 when the tags are done. Homes are monotone in
    /// the hash at every capacity, so such keys live from the home of the range's first tag up to the first free slot
    /// at or past the home of its last: a key present for the whole iteration is returned exactly once, however the
    /// index grows between calls. Any number is a cursor (RANDOMKEY starts at a random one).
    /// </summary>
    public ulong Scan(ulong cursor, int count, ulong snapshot, List<(RowView Row, ulong Lsn, int Tag)> output)
    {
        var slots = Slots;
        int capacity = slots.Length;
        int tag = (int)(cursor & TagMask);
        int emitted = 0;
        do
        {
            // A step covers one home slot's tags, or (above 2^24 slots) one tag's homes.
            int end, first, last;
            if (capacity <= TagSpace)
            {
                first = last = HomeOfTag(tag, capacity);
                end = (int)Math.Min(TagSpace, (((long)first + 1 << TagBits) + capacity - 1) / capacity);
            }
            else
            {
                end = tag + 1;
                first = Home(tag << (32 - TagBits), capacity);
                last = Home(tag << (32 - TagBits) | (1 << (32 - TagBits)) - 1, capacity);
            }
            for (int i = first, distance = 0; distance < capacity; i = Next(i, capacity), distance++)
            {
                ulong entry = Volatile.Read(ref slots[i]);
                if (entry == 0)
                {
                    if (distance >= last - first) break;
                    continue;
                }
                if (entry == Deleted) continue;
                int entryTag = TagOf(entry);
                if (entryTag < tag || entryTag >= end) continue;
                if (Visible(AddressOf(entry), snapshot, out var row, out ulong lsn) == Seen.Found) { output.Add((row, lsn, entryTag)); emitted++; }
            }
            tag = end;
        } while (tag < TagSpace && emitted < count);
        return tag < TagSpace ? (ulong)tag : 0;
    }

    /// <summary>Every visible row at <paramref name="snapshot"/>, in slot order.</summary>
    public IEnumerable<(RowView Row, ulong Lsn, int Tag)> All(ulong snapshot)
    {
        var slots = Slots;
        for (int i = 0; i < slots.Length; i++)
        {
            ulong entry = Volatile.Read(ref slots[i]);
            if (entry == 0 || entry == Deleted) continue;
            if (Visible(AddressOf(entry), snapshot, out var row, out ulong lsn) == Seen.Found) yield return (row, lsn, TagOf(entry));
        }
    }

    /// <summary>
    /// Writer only: a new index over new pages holding, for each key, its versions from the newest down to the newest one
    /// at or below <paramref name="horizon"/> (what a reader pinned at or above the horizon, or reading the visible LSN,
    /// can need); a key whose newest version is a deletion at or below the horizon goes. The index keeps its capacity,
    /// so SCAN cursors handed out before go on (see <see cref="Scan"/>). <paramref name="superseded"/>: the bytes of the
    /// older versions it kept (readers above the horizon may still need them), garbage for the next compaction.
    /// </summary>
    public RowTable Rewrite(ulong horizon, out long superseded)
    {
        superseded = 0;
        var fresh = new RowTable(_schemas, _hasher);
        fresh._slots = new ulong[_slots.Length];
        var chain = new List<ulong>();
        int capacity = _slots.Length;
        foreach (ulong entry in _slots)
        {
            if (entry == 0 || entry == Deleted) continue;
            chain.Clear();
            for (ulong address = AddressOf(entry); address is not 0 and not PageFormat.Pruned;)
            {
                chain.Add(address);
                var page = _pages.PageOf(address)!;
                int record = PageFormat.OffsetOf(address);
                if (PageFormat.LsnOf(page, record) <= horizon) break;
                address = PageFormat.PreviousOf(page, record);
            }
            if (chain.Count == 1 && _pages.LsnOf(chain[0]) <= horizon && _pages.ViewOf(chain[0]).IsTombstone) continue;
            ulong previous = 0;
            for (int i = chain.Count - 1; i >= 0; i--)
            {
                var body = _pages.ViewOf(chain[i]).Body;
                previous = fresh._pages.Append(body, _pages.LsnOf(chain[i]), previous);
                if (i > 0) superseded += body.Length + 1;
            }
            ulong moved = (entry & ~PageFormat.AddressMask) | previous;
            int at = HomeOf(entry, capacity);
            while (fresh._slots[at] != 0) at = Next(at, capacity);
            fresh._slots[at] = moved;
            fresh._occupied++;
        }
        return fresh;
    }

    /// <summary>Writer only: gives rows loaded by the snapshot (LSN 0) the snapshot's consistent point, so
    /// their ETag and CAS name the state they came from. Readers are told to wait for readiness meanwhile.</summary>
    public void StampSnapshot(ulong lsn) => _pages.StampBase(lsn);

    /// <summary>Writer only: newest non-deleted versions, for truncate and schema rewrites.</summary>
    public List<ulong> NewestLive()
    {
        var result = new List<ulong>();
        foreach (ulong entry in _slots)
        {
            if (entry == 0 || entry == Deleted) continue;
            ulong address = AddressOf(entry);
            if (!_pages.ViewOf(address).IsTombstone) result.Add(address);
        }
        return result;
    }
}
