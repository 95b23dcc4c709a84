using System.Buffers.Binary;

namespace Pgrelay.Core.Rows;

/// <summary>
/// The compact encoding of one row version: a single byte array, so a cached row costs one object.
/// Schema (names, types) is shared per table; a row holds only its values in PostgreSQL text format.
/// <code>
///  0  u64  version LSN (stamped by the store: the end LSN of the writing transaction, or a snapshot's consistent point)
///  8  i32  key hash   (stamped by the store)
/// 12  u8   flags: bits 0-1 offset width (0 = u8, 1 = u16, 2 = u32), 4 = tombstone (row deleted at that LSN),
///          8 = copies (the array ends with a u32: how many identical rows a table without primary key holds, ≥ 2),
///          16 = wide count (the column count is a u16), 32 = all values (no states: every column holds a value)
/// 13  u8   shape  (stamped by the store: which of the table's schemas the values are encoded for, see SchemaHistory)
/// 14  u8   column count n (u16 with flag 16: a table has at most 1600 columns, most fewer than 256)
///     ceil(n/4) bytes: 2-bit ColumnState per column, absent with flag 32 (a row with no NULL and no unchanged TOAST
///     value, the usual one, pays nothing for them)
///     n end offsets (u8, u16 or u32: the narrowest that holds the payload length), relative to the payload start
///     payload: the values' UTF-8 bytes back to back
///     [u32 copies, when flag 8 is set]
/// </code>
/// An 8-column row of 72 payload bytes costs 3 + 8 bytes besides them in a page (it was 4 + 2 + 8 with a u16 count and
/// states always).
/// </summary>
public static class RowFormat
{
    public const int LsnOffset = 0;
    public const int HashOffset = 8;
    public const int FlagsOffset = 12;
    public const int ShapeOffset = 13;
    public const int CountOffset = 14;
    /// <summary>The smallest row: its header with a one-byte column count.</summary>
    public const int HeaderSize = 15;

    /// <summary>Where the body starts: flags, shape, count, states, offsets, payload and copies, the part a
    /// <see cref="RowView"/> reads. The store's pages hold bodies without the LSN and hash before them.</summary>
    public const int BodyOffset = FlagsOffset;
    /// <summary>Where the column count lies in a body.</summary>
    public const int BodyCountOffset = CountOffset - BodyOffset;

    public const byte OffsetWidthMask = 3;
    public const byte Tombstone = 4;
    public const byte Copies = 8;
    public const byte WideCount = 16;
    public const byte AllValues = 32;

    /// <summary>Bytes per end offset for a payload of this length: most rows are short, so one byte.</summary>
    public static int OffsetWidth(int payloadLength) => payloadLength <= byte.MaxValue ? 1 : payloadLength <= ushort.MaxValue ? 2 : 4;
    public static byte OffsetWidthCode(int width) => width switch { 1 => 0, 2 => 1, _ => 2 };
    public static int OffsetWidthOf(byte flags) => (flags & OffsetWidthMask) switch { 0 => 1, 1 => 2, _ => 4 };

    /// <summary>Bytes of the column count: 1, or 2 with <see cref="WideCount"/>.</summary>
    public static int CountSize(byte flags) => (flags & WideCount) != 0 ? 2 : 1;

    /// <summary>Bytes of the states in a row with these flags and columns: none with <see cref="AllValues"/>.</summary>
    public static int StatesLength(byte flags, int columns) => (flags & AllValues) != 0 ? 0 : StatesSize(columns);

    public static int StatesSize(int columns) => (columns + 3) >> 2;

    public static ulong ReadLsn(byte[] row) => BinaryPrimitives.ReadUInt64LittleEndian(row);
    public static void WriteLsn(byte[] row, ulong lsn) => BinaryPrimitives.WriteUInt64LittleEndian(row, lsn);
    public static int ReadHash(byte[] row) => BinaryPrimitives.ReadInt32LittleEndian(row.AsSpan(HashOffset));
    public static void WriteHash(byte[] row, int hash) => BinaryPrimitives.WriteInt32LittleEndian(row.AsSpan(HashOffset), hash);
    public static bool IsTombstone(byte[] row) => (row[FlagsOffset] & Tombstone) != 0;
    public static byte ReadShape(byte[] row) => row[ShapeOffset];
    public static void WriteShape(byte[] row, byte shape) => row[ShapeOffset] = shape;

    /// <summary>How many identical rows this version stands for (1 unless the table has no primary key).</summary>
    public static int ReadCopies(byte[] row) =>
        (row[FlagsOffset] & Copies) == 0 ? 1 : BinaryPrimitives.ReadInt32LittleEndian(row.AsSpan(row.Length - sizeof(int)));

    /// <summary>A new array holding the same values standing for <paramref name="copies"/> identical rows (the count
    /// rides after the payload, so only rows with copies pay for it).</summary>
    public static byte[] WithCopies(byte[] row, int copies)
    {
        int length = (row[FlagsOffset] & Copies) == 0 ? row.Length : row.Length - sizeof(int);
        var result = new byte[copies > 1 ? length + sizeof(int) : length];
        row.AsSpan(0, length).CopyTo(result);
        if (copies > 1)
        {
            result[FlagsOffset] |= Copies;
            BinaryPrimitives.WriteInt32LittleEndian(result.AsSpan(length), copies);
        }
        else
        {
            result[FlagsOffset] &= unchecked((byte)~Copies);
        }
        return result;
    }

    /// <summary>A row that records "deleted at this LSN": no columns.</summary>
    /// <summary>A row array holding <paramref name="view"/>'s body, stamped with <paramref name="lsn"/>: the writer's copy of
    /// a version held in a page.</summary>
    public static byte[] ToArray(RowView view, ulong lsn, int hash)
    {
        var body = view.Body;
        var row = new byte[BodyOffset + body.Length];
        WriteLsn(row, lsn);
        WriteHash(row, hash);
        body.CopyTo(row.AsSpan(BodyOffset));
        return row;
    }

    public static byte[] NewTombstone()
    {
        var row = new byte[HeaderSize];
        row[FlagsOffset] = Tombstone;
        return row;
    }
}
