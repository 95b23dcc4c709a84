using System.Buffers.Binary;

namespace Pgrelay.Core.Rows;

/// <summary>
/// The compact encoding of one row version: a single byte array, so a cached row costs one object.
/// Schema (names, types) is shared per table; a row holds only its values in PostgreSQL text format.
/// <code>
///  0  u64  version LSN (stamped by the store: the end LSN of the writing transaction, or a snapshot's consistent point)
///  8  i32  key hash   (stamped by the store)
/// 12  u8   flags: bits 0-1 offset width (0 = u8, 1 = u16, 2 = u32), 4 = tombstone (row deleted at that LSN)
/// 13  u8   reserved
/// 14  u16  column count n
/// 16  ceil(n/4) bytes: 2-bit ColumnState per column
///     n end offsets (u8, u16 or u32: the narrowest that holds the payload length), relative to the payload start
///     payload: the values' UTF-8 bytes back to back
/// </code>
/// </summary>
public static class RowFormat
{
    public const int LsnOffset = 0;
    public const int HashOffset = 8;
    public const int FlagsOffset = 12;
    public const int CountOffset = 14;
    public const int HeaderSize = 16;

    public const byte OffsetWidthMask = 3;
    public const byte Tombstone = 4;

    /// <summary>Bytes per end offset for a payload of this length: most rows are short, so one byte.</summary>
    public static int OffsetWidth(int payloadLength) => payloadLength <= byte.MaxValue ? 1 : payloadLength <= ushort.MaxValue ? 2 : 4;
    public static byte OffsetWidthCode(int width) => width switch { 1 => 0, 2 => 1, _ => 2 };
    public static int OffsetWidthOf(byte flags) => (flags & OffsetWidthMask) switch { 0 => 1, 1 => 2, _ => 4 };

    public static int StatesSize(int columns) => (columns + 3) >> 2;

    public static ulong ReadLsn(byte[] row) => BinaryPrimitives.ReadUInt64LittleEndian(row);
    public static void WriteLsn(byte[] row, ulong lsn) => BinaryPrimitives.WriteUInt64LittleEndian(row, lsn);
    public static int ReadHash(byte[] row) => BinaryPrimitives.ReadInt32LittleEndian(row.AsSpan(HashOffset));
    public static void WriteHash(byte[] row, int hash) => BinaryPrimitives.WriteInt32LittleEndian(row.AsSpan(HashOffset), hash);
    public static bool IsTombstone(byte[] row) => (row[FlagsOffset] & Tombstone) != 0;

    /// <summary>A row that records "deleted at this LSN": no columns.</summary>
    public static byte[] NewTombstone()
    {
        var row = new byte[HeaderSize];
        row[FlagsOffset] = Tombstone;
        return row;
    }
}
