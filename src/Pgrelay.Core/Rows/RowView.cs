using System.Buffers.Binary;
using System.Runtime.CompilerServices;

namespace Pgrelay.Core.Rows;

/// <summary>
/// Read access to an encoded row's body (see <see cref="RowFormat"/>): the flags, shape, states, offsets and payload,
/// wherever they lie — a row array (body at <see cref="RowFormat.BodyOffset"/>) or a record in one of the store's pages.
/// A struct over the buffer and the body's offset: no allocation, and holding it keeps the buffer alive.
/// </summary>
public readonly struct RowView
{
    private readonly byte[] _buffer;
    private readonly int _body;

    /// <summary>A row array as <see cref="RowBuilder"/> builds it.</summary>
    public RowView(byte[] row) : this(row, RowFormat.BodyOffset) { }

    /// <summary>A body that starts at <paramref name="body"/> in <paramref name="buffer"/> (a page record).</summary>
    public RowView(byte[] buffer, int body)
    {
        _buffer = buffer;
        _body = body;
    }

    /// <summary>The buffer the body lies in and where: with the body's length, names these bytes exactly (two views over
    /// the same bytes are the same version).</summary>
    public byte[] Buffer => _buffer;
    public int BodyStart => _body;
    public bool IsDefault => _buffer is null;
    public byte Flags => _buffer[_body];
    public bool IsTombstone => (Flags & RowFormat.Tombstone) != 0;
    public byte Shape => _buffer[_body + 1];
    public int ColumnCount => (Flags & RowFormat.WideCount) != 0
        ? BinaryPrimitives.ReadUInt16LittleEndian(_buffer.AsSpan(_body + RowFormat.BodyCountOffset))
        : _buffer[_body + RowFormat.BodyCountOffset];

    /// <summary>Where the states start (or the offsets, in a row without states).</summary>
    private int StatesAt(byte flags) => _body + RowFormat.BodyCountOffset + RowFormat.CountSize(flags);

    private int OffsetsAt(byte flags, int columns) => StatesAt(flags) + RowFormat.StatesLength(flags, columns);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ColumnState State(int column)
    {
        byte flags = Flags;
        if ((flags & RowFormat.AllValues) != 0) return ColumnState.Value;
        return (ColumnState)((_buffer[StatesAt(flags) + (column >> 2)] >> ((column & 3) << 1)) & 3);
    }

    public bool IsNull(int column) => State(column) == ColumnState.Null;

    /// <summary>The value's text bytes; empty for NULL and unchanged columns (check <see cref="State"/>).</summary>
    public ReadOnlySpan<byte> Value(int column)
    {
        byte flags = Flags;
        int n = ColumnCount;
        int offsets = OffsetsAt(flags, n);
        int width = RowFormat.OffsetWidthOf(flags);
        int payload = offsets + n * width;
        int start = column == 0 ? 0 : ReadOffset(offsets, column - 1, width);
        int end = ReadOffset(offsets, column, width);
        return _buffer.AsSpan(payload + start, end - start);
    }

    /// <summary>Total payload size: the bytes of all values.</summary>
    public int PayloadLength
    {
        get
        {
            byte flags = Flags;
            int n = ColumnCount;
            if (n == 0) return 0;
            return ReadOffset(OffsetsAt(flags, n), n - 1, RowFormat.OffsetWidthOf(flags));
        }
    }

    /// <summary>Where the payload ends: the copies count follows when <see cref="RowFormat.Copies"/> is set.</summary>
    private int PayloadEnd
    {
        get
        {
            byte flags = Flags;
            int n = ColumnCount;
            return OffsetsAt(flags, n) + n * RowFormat.OffsetWidthOf(flags) + PayloadLength;
        }
    }

    /// <summary>How many identical rows this version stands for (1 unless the table has no primary key).</summary>
    public int Copies => (Flags & RowFormat.Copies) == 0 ? 1 : BinaryPrimitives.ReadInt32LittleEndian(_buffer.AsSpan(PayloadEnd));

    /// <summary>The body's bytes: flags to payload end, copies included.</summary>
    public ReadOnlySpan<byte> Body => _buffer.AsSpan(_body, PayloadEnd + ((Flags & RowFormat.Copies) == 0 ? 0 : sizeof(int)) - _body);

    private int ReadOffset(int offsets, int index, int width) => width switch
    {
        1 => _buffer[offsets + index],
        2 => BinaryPrimitives.ReadUInt16LittleEndian(_buffer.AsSpan(offsets + index * 2)),
        _ => BinaryPrimitives.ReadInt32LittleEndian(_buffer.AsSpan(offsets + index * 4)),
    };
}
