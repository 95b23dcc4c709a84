using System.Buffers.Binary;
using System.Runtime.CompilerServices;

namespace Pgrelay.Core.Rows;

/// <summary>Read access to an encoded row (see <see cref="RowFormat"/>). A struct over the array: no allocation.</summary>
public readonly struct RowView
{
    private readonly byte[] _row;

    public RowView(byte[] row) => _row = row;

    public byte[] Bytes => _row;
    public bool IsDefault => _row is null;
    public ulong VersionLsn => RowFormat.ReadLsn(_row);
    public bool IsTombstone => RowFormat.IsTombstone(_row);
    public int ColumnCount => BinaryPrimitives.ReadUInt16LittleEndian(_row.AsSpan(RowFormat.CountOffset));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ColumnState State(int column) =>
        (ColumnState)((_row[RowFormat.HeaderSize + (column >> 2)] >> ((column & 3) << 1)) & 3);

    public bool IsNull(int column) => State(column) == ColumnState.Null;

    /// <summary>The value's text bytes; empty for NULL and unchanged columns (check <see cref="State"/>).</summary>
    public ReadOnlySpan<byte> Value(int column)
    {
        int n = ColumnCount;
        int offsets = RowFormat.HeaderSize + RowFormat.StatesSize(n);
        int width = RowFormat.OffsetWidthOf(_row[RowFormat.FlagsOffset]);
        int payload = offsets + n * width;
        int start = column == 0 ? 0 : ReadOffset(offsets, column - 1, width);
        int end = ReadOffset(offsets, column, width);
        return _row.AsSpan(payload + start, end - start);
    }

    /// <summary>Total payload size: the bytes of all values.</summary>
    public int PayloadLength
    {
        get
        {
            int n = ColumnCount;
            if (n == 0) return 0;
            return ReadOffset(RowFormat.HeaderSize + RowFormat.StatesSize(n), n - 1, RowFormat.OffsetWidthOf(_row[RowFormat.FlagsOffset]));
        }
    }

    private int ReadOffset(int offsets, int index, int width) => width switch
    {
        1 => _row[offsets + index],
        2 => BinaryPrimitives.ReadUInt16LittleEndian(_row.AsSpan(offsets + index * 2)),
        _ => BinaryPrimitives.ReadInt32LittleEndian(_row.AsSpan(offsets + index * 4)),
    };
}
