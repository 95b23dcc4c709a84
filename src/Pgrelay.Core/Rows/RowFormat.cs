using System.Buffers.Binary;

namespace Pgrelay.Core.Rows;

/// <summary>
/// The compact encoding of one row version: a single byte array, so a cached row costs one object.
/// Schema (names, types) is shared per table; a row holds only its values in PostgreSQL text format.
/// <code>
///  0  u64  commit LSN (stamped by the store when the row is applied)
///  8  i32  key hash   (stamped by the store)
/// 12  u8   flags: 1 = offsets are u32 (else u16), 2 = tombstone (row deleted at that LSN)
/// 13  u8   reserved
/// 14  u16  column count n
/// 16  ceil(n/4) bytes: 2-bit ColumnState per column
///     n end offsets (u16 or u32), relative to the payload start
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

    public const byte WideOffsets = 1;
    public const byte Tombstone = 2;

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
