using System.Buffers;
using System.Buffers.Binary;
using Pgrelay.Core.Checkpoints;
using Pgrelay.Core.Rows;

namespace Pgrelay.Store.Checkpoints;

/// <summary>
/// Reads a checkpoint file block by block, checking each block's checksum before using a byte of it, and the footer
/// last: a torn write (no footer, a short block), a flipped bit or a file of another format is a
/// <see cref="CheckpointUnusableException"/> naming the file and what is wrong.
/// </summary>
internal sealed class CheckpointReader : IDisposable
{
    private readonly FileStream _file;
    private readonly string _name;
    private byte[] _block = ArrayPool<byte>.Shared.Rent(CheckpointFormat.PageSize + 64);
    private int _blocks;

    public CheckpointReader(string path)
    {
        _name = Path.GetFileName(path);
        try
        {
            _file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 0, FileOptions.SequentialScan);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CheckpointUnusableException($"checkpoint {_name} cannot be read: {e.Message}");
        }
    }

    /// <summary>The preamble and the header block.</summary>
    public CheckpointInfo ReadHeader()
    {
        Span<byte> preamble = stackalloc byte[CheckpointFormat.PreambleSize];
        if (_file.ReadAtLeast(preamble, preamble.Length, throwOnEndOfStream: false) < preamble.Length || !preamble[..12].SequenceEqual(CheckpointFormat.Magic))
            throw Unusable("is not a pgrelay checkpoint (no preamble)");
        int version = BinaryPrimitives.ReadInt32LittleEndian(preamble[12..]);
        if (version != CheckpointFormat.Version) throw Unusable($"has format version {version}; this pgrelay reads {CheckpointFormat.Version}");
        var header = Next(CheckpointFormat.HeaderBlock);
        try
        {
            return CheckpointHeaderCodec.Decode(_file.Name, header);
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw Unusable($"has a header that cannot be read ({e.Message})");
        }
    }

    /// <summary>After <see cref="ReadHeader"/>: every table's versions, then the footer's proof of completeness.
    /// <paramref name="table"/> is told each relation and how many versions follow; <paramref name="row"/> gets each one.</summary>
    public long ReadRows(ulong lsn, Action<uint, long> table, Action<byte[]> row)
    {
        long total = 0;
        while (true)
        {
            var payload = Next(0, out byte kind);
            switch (kind)
            {
                case CheckpointFormat.TableBlock:
                    if (payload.Length != 12) throw Unusable("has a malformed table block");
                    table(BinaryPrimitives.ReadUInt32LittleEndian(payload), (long)BinaryPrimitives.ReadUInt64LittleEndian(payload[4..]));
                    break;
                case CheckpointFormat.RowsBlock:
                    total += ReadRowsBlock(payload, row);
                    break;
                case CheckpointFormat.FooterBlock:
                    if (payload.Length != 20) throw Unusable("has a malformed footer");
                    if (BinaryPrimitives.ReadUInt64LittleEndian(payload) != lsn) throw Unusable("has a footer for another LSN");
                    if ((long)BinaryPrimitives.ReadUInt64LittleEndian(payload[8..]) != total) throw Unusable("has fewer rows than its footer says");
                    if (BinaryPrimitives.ReadUInt32LittleEndian(payload[16..]) != _blocks - 1) throw Unusable("has a footer that does not match its blocks");
                    return total;
                default:
                    throw Unusable($"has a block of unknown kind {kind}");
            }
        }
    }

    // Runs a million times within a second of the process starting: tier-0 code would stay in charge for most of it.
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    private long ReadRowsBlock(ReadOnlySpan<byte> payload, Action<byte[]> row)
    {
        if (payload.Length < 4) throw Unusable("has a malformed rows block");
        uint count = BinaryPrimitives.ReadUInt32LittleEndian(payload);
        int at = 4;
        for (uint i = 0; i < count; i++)
        {
            if (payload.Length - at < 4) throw Unusable("has a malformed rows block");
            int length = BinaryPrimitives.ReadInt32LittleEndian(payload[at..]);
            at += 4;
            if (length < RowFormat.HeaderSize || length > payload.Length - at) throw Unusable("has a malformed row");
            row(payload.Slice(at, length).ToArray());
            at += length;
        }
        if (at != payload.Length) throw Unusable("has a malformed rows block");
        return count;
    }

    private ReadOnlySpan<byte> Next(byte expected) => Next(expected, out _);

    /// <summary>The next block's payload, its checksum verified (valid until the next call).</summary>
    private ReadOnlySpan<byte> Next(byte expected, out byte kind)
    {
        Span<byte> head = stackalloc byte[CheckpointFormat.BlockHeaderSize];
        if (_file.ReadAtLeast(head, head.Length, throwOnEndOfStream: false) < head.Length)
            throw Unusable("ends early (no footer): a write that did not finish");
        kind = head[0];
        int length = BinaryPrimitives.ReadInt32LittleEndian(head[4..]);
        if (expected != 0 && kind != expected) throw Unusable($"has block kind {kind} where {expected} belongs");
        if (length < 0 || length > _file.Length - _file.Position) throw Unusable("ends early (a block is cut short): a write that did not finish");
        int total = CheckpointFormat.BlockHeaderSize + length + CheckpointFormat.BlockTrailerSize;
        if (_block.Length < total)
        {
            ArrayPool<byte>.Shared.Return(_block);
            _block = ArrayPool<byte>.Shared.Rent(total);
        }
        head.CopyTo(_block);
        int rest = length + CheckpointFormat.BlockTrailerSize;
        if (_file.ReadAtLeast(_block.AsSpan(CheckpointFormat.BlockHeaderSize, rest), rest, throwOnEndOfStream: false) < rest)
            throw Unusable("ends early (a block is cut short): a write that did not finish");
        var covered = _block.AsSpan(0, CheckpointFormat.BlockHeaderSize + length);
        if (CheckpointFormat.Crc32C(0, covered) != BinaryPrimitives.ReadUInt32LittleEndian(_block.AsSpan(covered.Length)))
            throw Unusable($"has a bad checksum in block {_blocks + 1}");
        _blocks++;
        return covered[CheckpointFormat.BlockHeaderSize..];
    }

    private CheckpointUnusableException Unusable(string what) => new($"checkpoint {_name} {what}");

    public void Dispose()
    {
        _file.Dispose();
        ArrayPool<byte>.Shared.Return(_block);
        _block = [];
    }
}
