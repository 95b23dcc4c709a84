using System.Buffers.Binary;
using Pgrelay.Core.Rows;

namespace Pgrelay.Store.Pages;

/// <summary>
/// One table's pages (<see cref="PageFormat"/>): the writer appends records at the tail page; readers resolve an address
/// to its page without a lock. A page is a plain array: a <see cref="RowView"/> over a record holds the page itself, so a
/// page a reader still reads from outlives its place in the table (the garbage collector is the epoch).
/// <para>Page numbers are given out once: an address keeps naming the same record as long as the table lives, and a
/// reader that found no page at an address (a page compacted away) reads the slot again.</para>
/// </summary>
internal sealed class RowPages
{
    private byte[]?[] _pages = new byte[]?[4];   // by page number; slot 0 unused (address 0 is null)
    private byte[]? _tail;
    private int _tailNumber, _tailUsed, _lastNumber;
    private int _nextSize = PageFormat.FirstPageSize;
    private long _allocated;

    /// <summary>Bytes of every page held.</summary>
    public long AllocatedBytes => Interlocked.Read(ref _allocated);

    /// <summary>The page an address lies in, or null when there is none (any thread).</summary>
    public byte[]? PageOf(ulong address)
    {
        var pages = Volatile.Read(ref _pages);
        int number = PageFormat.PageOf(address);
        return number < pages.Length ? Volatile.Read(ref pages[number]) : null;
    }

    public RowView ViewOf(ulong address)
    {
        var page = PageOf(address) ?? throw new InvalidOperationException($"no page holds address {address:X}");
        return PageFormat.ViewOf(page, PageFormat.OffsetOf(address));
    }

    public ulong LsnOf(ulong address) => PageFormat.LsnOf(PageOf(address)!, PageFormat.OffsetOf(address));

    // ---- writer side ----

    /// <summary>
    /// Appends a record holding <paramref name="body"/> at <paramref name="lsn"/> (0: a snapshot row not stamped yet).
    /// A record carries no LSN when its page's base LSN is the same: a page's first record sets the base, so the rows of
    /// one snapshot, or of one bulk transaction, pay nothing for it. A row at LSN 0 goes only to a page whose base is 0,
    /// the pages <see cref="StampBase"/> stamps. Returns its address.
    /// </summary>
    public ulong Append(ReadOnlySpan<byte> body, ulong lsn, ulong previous)
    {
        if (_tail is not null && lsn == 0 && PageFormat.BaseLsn(_tail) != 0) _tail = null;
        byte flags = Flags(lsn, previous);
        int size = PageFormat.RecordSize(_tailUsed, flags, body.Length);
        if (_tail is null || _tailUsed + size > _tail.Length || _tailUsed >= PageFormat.MaxPageSize)
        {
            Open(PageFormat.RecordSize(PageFormat.HeaderSize, (byte)(flags & PageFormat.HasPrevious), body.Length));
            // Readers learn of the page through a slot written after this.
            PageFormat.BaseLsn(_tail!) = lsn;
            flags = Flags(lsn, previous);
            size = PageFormat.RecordSize(_tailUsed, flags, body.Length);
        }
        var page = _tail!;
        int at = _tailUsed;
        page[at] = flags;
        if (flags != 0)
        {
            int words = PageFormat.WordsAt(at);
            page.AsSpan(at + 1, words - at - 1).Clear();
            if (previous != 0) { BinaryPrimitives.WriteUInt64LittleEndian(page.AsSpan(words), previous); words += 8; }
            if ((flags & PageFormat.OwnLsn) != 0) BinaryPrimitives.WriteUInt64LittleEndian(page.AsSpan(words), lsn);
        }
        body.CopyTo(page.AsSpan(PageFormat.BodyAt(page, at)));
        _tailUsed = at + size;
        BinaryPrimitives.WriteInt32LittleEndian(page.AsSpan(PageFormat.UsedOffset), _tailUsed);
        return PageFormat.Address(_tailNumber, at);
    }

    private byte Flags(ulong lsn, ulong previous) =>
        (byte)((_tail is not null && lsn != PageFormat.BaseLsn(_tail) ? PageFormat.OwnLsn : 0) | (previous != 0 ? PageFormat.HasPrevious : 0));

    /// <summary>The next record starts a new page (after a snapshot's rows got their LSN: a stamped page takes no more
    /// rows without one).</summary>
    public void Seal() => _tail = null;

    /// <summary>Gives records without their own LSN in every page not stamped yet <paramref name="lsn"/>, and seals the
    /// tail.</summary>
    public void StampBase(ulong lsn)
    {
        foreach (var page in _pages)
            if (page is not null && PageFormat.BaseLsn(page) == 0) Volatile.Write(ref PageFormat.BaseLsn(page), lsn);
        Seal();
    }

    /// <summary>Checkpoint loading: serves a page read from a checkpoint as it is, under a page number of this table's.
    /// Appends go on at the tail, never into it.</summary>
    public int Adopt(byte[] page)
    {
        int number = Publish(page);
        BinaryPrimitives.WriteInt32LittleEndian(page.AsSpan(PageFormat.NumberOffset), number);
        Interlocked.Add(ref _allocated, page.Length);
        return number;
    }

    private int Publish(byte[] page)
    {
        int number = _lastNumber + 1;
        if (number > PageFormat.MaxPageNumber) throw new InvalidOperationException("a table ran out of page numbers");
        var pages = _pages;
        if (number >= pages.Length)
        {
            Array.Resize(ref pages, pages.Length * 2);
            Volatile.Write(ref _pages, pages);
        }
        Volatile.Write(ref pages[number], page);
        _lastNumber = number;
        return number;
    }

    private void Open(int recordSize)
    {
        int size = Math.Max(_nextSize, PageFormat.HeaderSize + recordSize);
        if (_nextSize < PageFormat.MaxPageSize) _nextSize *= 2;
        var page = GC.AllocateUninitializedArray<byte>(size);
        page.AsSpan(0, PageFormat.HeaderSize).Clear();
        PageFormat.WriteHeader(page, _lastNumber + 1);
        int number = Publish(page);
        _tailNumber = number;
        _tail = page;
        _tailUsed = PageFormat.HeaderSize;
        Interlocked.Add(ref _allocated, size);
    }
}
