using System.Buffers.Binary;

namespace Pgrelay.Core.Rows;

/// <summary>
/// Rows encoded back to back in one buffer, so a snapshot copier hands a store thousands of rows without an array each
/// (<see cref="Changes.ISnapshotRowSink.LoadSnapshotRows(Model.TableSchema, RowBatch)"/>). Each row is a u32 length and
/// then its <see cref="RowFormat"/> bytes (LSN 0, as <see cref="RowBuilder"/> builds them). Reusable and not thread-safe:
/// the copier fills it (<see cref="RowBuilder.BuildInto"/>), the sink copies what it keeps, the copier clears it.
/// </summary>
public sealed class RowBatch
{
    private byte[] _buffer;
    private int _length;

    public RowBatch(int capacity = 1 << 16) => _buffer = new byte[Math.Max(capacity, 64)];

    public int Count { get; private set; }

    /// <summary>Bytes held: a copier hands the batch over once this passes its budget.</summary>
    public int Length => _length;

    public void Clear()
    {
        _length = 0;
        Count = 0;
    }

    /// <summary>Space for one more row of <paramref name="rowLength"/> bytes (its RowFormat bytes, without the length).</summary>
    public Span<byte> Reserve(int rowLength)
    {
        int needed = _length + sizeof(int) + rowLength;
        if (needed > _buffer.Length) Array.Resize(ref _buffer, Math.Max(needed, _buffer.Length * 2));
        BinaryPrimitives.WriteInt32LittleEndian(_buffer.AsSpan(_length), rowLength);
        var row = _buffer.AsSpan(_length + sizeof(int), rowLength);
        _length = needed;
        Count++;
        return row;
    }

    /// <summary>Appends a row already encoded (a row array).</summary>
    public void Add(ReadOnlySpan<byte> row) => row.CopyTo(Reserve(row.Length));

    /// <summary>Every row, as a view over the batch's buffer (valid until the batch is cleared or grows).</summary>
    public Enumerator GetEnumerator() => new(_buffer, _length);

    /// <summary>Every row as its own array, for sinks that keep rows as arrays.</summary>
    public List<byte[]> ToArrays()
    {
        var rows = new List<byte[]>(Count);
        for (int at = 0; at < _length;)
        {
            int length = BinaryPrimitives.ReadInt32LittleEndian(_buffer.AsSpan(at));
            rows.Add(_buffer.AsSpan(at + sizeof(int), length).ToArray());
            at += sizeof(int) + length;
        }
        return rows;
    }

    public struct Enumerator(byte[] buffer, int length)
    {
        private int _next;
        private int _row = -1;

        public readonly RowView Current => new(buffer, _row + RowFormat.BodyOffset);

        public bool MoveNext()
        {
            if (_next >= length) return false;
            _row = _next + sizeof(int);
            _next = _row + BinaryPrimitives.ReadInt32LittleEndian(buffer.AsSpan(_next));
            return true;
        }
    }
}
