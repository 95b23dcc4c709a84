using System.Buffers.Binary;

namespace Pgrelay.Store.Checkpoints;

/// <summary>Writes checksummed blocks (<see cref="CheckpointFormat"/>) to a file through one reused page buffer.</summary>
internal sealed class BlockWriter(FileStream file)
{
    private byte[] _page = new byte[CheckpointFormat.PageSize + 64];
    private int _length;   // bytes in _page, block header included
    private byte _kind;

    public int Blocks { get; private set; }
    public long BytesWritten { get; private set; }

    /// <summary>Payload bytes of the open block.</summary>
    public int PayloadLength => _length - CheckpointFormat.BlockHeaderSize;

    public void WritePreamble()
    {
        Span<byte> preamble = stackalloc byte[CheckpointFormat.PreambleSize];
        CheckpointFormat.WritePreamble(preamble);
        file.Write(preamble);
        BytesWritten += preamble.Length;
    }

    public void Begin(byte kind)
    {
        _kind = kind;
        _length = CheckpointFormat.BlockHeaderSize;
    }

    public Span<byte> Reserve(int bytes)
    {
        int needed = _length + bytes + CheckpointFormat.BlockTrailerSize;
        if (needed > _page.Length) Array.Resize(ref _page, Math.Max(needed, _page.Length * 2));
        var span = _page.AsSpan(_length, bytes);
        _length += bytes;
        return span;
    }

    public void Append(ReadOnlySpan<byte> bytes) => bytes.CopyTo(Reserve(bytes.Length));
    public void AppendUInt32(uint value) => BinaryPrimitives.WriteUInt32LittleEndian(Reserve(4), value);
    public void AppendUInt64(ulong value) => BinaryPrimitives.WriteUInt64LittleEndian(Reserve(8), value);

    /// <summary>Where a value written later (a count) goes: the payload offset of reserved bytes.</summary>
    public void PatchUInt32(int payloadOffset, uint value) =>
        BinaryPrimitives.WriteUInt32LittleEndian(_page.AsSpan(CheckpointFormat.BlockHeaderSize + payloadOffset), value);

    public void End()
    {
        var page = _page.AsSpan();
        page[0] = _kind;
        page[1] = page[2] = page[3] = 0;
        BinaryPrimitives.WriteInt32LittleEndian(page[4..], PayloadLength);
        uint crc = CheckpointFormat.Crc32C(0, page[.._length]);
        BinaryPrimitives.WriteUInt32LittleEndian(page[_length..], crc);
        int total = _length + CheckpointFormat.BlockTrailerSize;
        file.Write(_page, 0, total);
        BytesWritten += total;
        Blocks++;
        _length = 0;
        // A page that grew for one huge row goes back to its usual size.
        if (_page.Length > 4 * CheckpointFormat.PageSize) _page = new byte[CheckpointFormat.PageSize + 64];
    }
}
