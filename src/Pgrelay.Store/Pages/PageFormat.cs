using System.Buffers.Binary;
using Pgrelay.Core.Rows;

namespace Pgrelay.Store.Pages;

/// <summary>
/// The layout of the store's pages: one table's row versions, back to back, with no heap object per row.
/// <para>An address names a record: <c>page number &lt;&lt; 20 | offset</c>, 0 = null. Page numbers start at 1 and are
/// never given out twice by a table (see <see cref="RowPages"/>), so an address names one record for the table's life.</para>
/// <code>
/// page header (64 bytes, little-endian like every integer here)
///  0  u32  magic "PGRP"
///  4  u16  format version (1)
///  6  u16  reserved (0)
///  8  u32  page number
/// 12  u32  bytes used: header and records (the writer's append point; readers never need it)
/// 16  u64  base LSN: the version LSN of records that carry none (snapshot rows: 0 while loading, then the
///          snapshot's consistent point; stamped once, and a stamped page takes no more such records)
/// 24  40 bytes reserved (0)
/// record (at any offset ≥ 64; a record whose body would not fit starts a new page, one bigger than the usual size
///         when the record alone is bigger)
///  0  u8   record flags: 1 = own LSN, 2 = previous version's address
///     when any flag: zero padding to the next multiple of 8 (p), so the words below are aligned and written atomically
///  p  u64  previous version's address (flag 2): 0 = none, <see cref="Pruned"/> = the chain was cut there
///     u64  version LSN (flag 1): the end LSN of the transaction that wrote it, or a checkpoint row's own LSN
///     body: the row's <see cref="RowFormat"/> bytes from its flags on (flags, shape, column count, states, offsets,
///           payload, copies) — what a <see cref="RowView"/> reads in place
/// </code>
/// A snapshot row costs its body plus one byte; a version written by the stream, 17–24 bytes more.
/// </summary>
internal static class PageFormat
{
    public const uint Magic = 0x50524750;   // "PGRP"
    public const ushort Version = 1;
    public const int HeaderSize = 64;
    public const int NumberOffset = 8, UsedOffset = 12, BaseLsnOffset = 16;

    public const int OffsetBits = 20;
    public const int PageNumberBits = 20;
    public const int AddressBits = OffsetBits + PageNumberBits;
    public const ulong AddressMask = (1UL << AddressBits) - 1;
    public const int MaxPageNumber = (1 << PageNumberBits) - 1;
    /// <summary>Usual page size: records start below 2^20, so every offset fits its 20 bits.</summary>
    public const int MaxPageSize = 1 << OffsetBits;
    public const int FirstPageSize = 16 << 10;

    public const byte OwnLsn = 1, HasPrevious = 2;

    /// <summary>A previous address that says: a reader needing anything older holds a stale snapshot and reads again.</summary>
    public const ulong Pruned = AddressMask;

    public static ulong Address(int page, int offset) => (ulong)page << OffsetBits | (uint)offset;
    public static int PageOf(ulong address) => (int)((address & AddressMask) >> OffsetBits);
    public static int OffsetOf(ulong address) => (int)(address & ((1UL << OffsetBits) - 1));

    /// <summary>Where a record's words start (its previous address, or its LSN).</summary>
    public static int WordsAt(int record) => (record + 8) & ~7;

    public static int RecordSize(int record, byte flags, int bodyLength) =>
        flags == 0 ? 1 + bodyLength
        : WordsAt(record) - record + ((flags & HasPrevious) != 0 ? 8 : 0) + ((flags & OwnLsn) != 0 ? 8 : 0) + bodyLength;

    public static int BodyAt(byte[] page, int record)
    {
        byte flags = page[record];
        if (flags == 0) return record + 1;
        return WordsAt(record) + ((flags & HasPrevious) != 0 ? 8 : 0) + ((flags & OwnLsn) != 0 ? 8 : 0);
    }

    public static ulong LsnOf(byte[] page, int record)
    {
        byte flags = page[record];
        if ((flags & OwnLsn) == 0) return Volatile.Read(ref BaseLsn(page));
        int at = WordsAt(record) + ((flags & HasPrevious) != 0 ? 8 : 0);
        return BinaryPrimitives.ReadUInt64LittleEndian(page.AsSpan(at));
    }

    /// <summary>The previous version's address (0 when the record has none).</summary>
    public static ulong PreviousOf(byte[] page, int record) =>
        (page[record] & HasPrevious) == 0 ? 0 : Volatile.Read(ref Word(page, WordsAt(record)));

    /// <summary>Writer only: cuts the chain below this record (it must have a previous address).</summary>
    public static void CutPrevious(byte[] page, int record) => Volatile.Write(ref Word(page, WordsAt(record)), Pruned);

    public static ref ulong BaseLsn(byte[] page) => ref Word(page, BaseLsnOffset);

    private static ref ulong Word(byte[] page, int at) =>
        ref System.Runtime.CompilerServices.Unsafe.As<byte, ulong>(ref page[at]);   // 8-aligned: see WordsAt

    public static RowView ViewOf(byte[] page, int record) => new(page, BodyAt(page, record));

    public static void WriteHeader(byte[] page, int number)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(page, Magic);
        BinaryPrimitives.WriteUInt16LittleEndian(page.AsSpan(4), Version);
        BinaryPrimitives.WriteInt32LittleEndian(page.AsSpan(NumberOffset), number);
        BinaryPrimitives.WriteInt32LittleEndian(page.AsSpan(UsedOffset), HeaderSize);
    }
}
