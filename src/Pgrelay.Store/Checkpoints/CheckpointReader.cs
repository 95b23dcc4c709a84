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

    /// <summary>Told of each table before its pages: relation id, versions that follow, the key hash seed of their tags.</summary>
    public delegate void TableSink(uint relationId, long versions, ulong hashSeed);

    /// <summary>Given each page image (a new array the table may serve as it is) and its records' hash tags.</summary>
    public delegate void PageSink(byte[] page, ReadOnlySpan<int> tags);

    /// <summary>After <see cref="ReadHeader"/>: every table's pages, then the footer's proof of completeness. Returns the
    /// versions read.</summary>
    public long ReadPages(ulong lsn, TableSink table, PageSink page)
    {
        long total = 0;
        while (true)
        {
            var (kind, length) = NextHead();
            switch (kind)
            {
                case CheckpointFormat.TableBlock:
                {
                    var payload = Rest(kind, length);
                    if (payload.Length != 20) throw Unusable("has a malformed table block");
                    table(BinaryPrimitives.ReadUInt32LittleEndian(payload), (long)BinaryPrimitives.ReadUInt64LittleEndian(payload[4..]),
                        BinaryPrimitives.ReadUInt64LittleEndian(payload[12..]));
                    break;
                }
                case CheckpointFormat.PageBlock:
                    total += ReadPage(kind, length, page);
                    break;
                case CheckpointFormat.FooterBlock:
                {
                    var payload = Rest(kind, length);
                    if (payload.Length != 20) throw Unusable("has a malformed footer");
                    if (BinaryPrimitives.ReadUInt64LittleEndian(payload) != lsn) throw Unusable("has a footer for another LSN");
                    if ((long)BinaryPrimitives.ReadUInt64LittleEndian(payload[8..]) != total) throw Unusable("has fewer rows than its footer says");
                    if (BinaryPrimitives.ReadUInt32LittleEndian(payload[16..]) != _blocks - 1) throw Unusable("has a footer that does not match its blocks");
                    return total;
                }
                default:
                    throw Unusable($"has a block of unknown kind {kind}");
            }
        }
    }

    /// <summary>A page block: the tags into the reused buffer, the page image straight into the array it will be served
    /// from; the checksum covers both before the page is handed over.</summary>
    private int ReadPage(byte kind, int length, PageSink sink)
    {
        if (length < 4) throw Unusable("has a malformed page block");
        Span<byte> countBytes = stackalloc byte[4];
        ReadExactly(countBytes);
        uint count = BinaryPrimitives.ReadUInt32LittleEndian(countBytes);
        long imageLength = length - 4 - 4L * count;
        if (count > int.MaxValue / 4 || imageLength < Pages.PageFormat.HeaderSize) throw Unusable("has a malformed page block");
        int tagBytes = (int)count * 4;
        if (_block.Length < tagBytes)
        {
            ArrayPool<byte>.Shared.Return(_block);
            _block = ArrayPool<byte>.Shared.Rent(tagBytes);
        }
        var tags = _block.AsSpan(0, tagBytes);
        ReadExactly(tags);
        var page = GC.AllocateUninitializedArray<byte>((int)imageLength);
        ReadExactly(page);
        Span<byte> trailer = stackalloc byte[CheckpointFormat.BlockTrailerSize];
        ReadExactly(trailer);
        Span<byte> head = stackalloc byte[CheckpointFormat.BlockHeaderSize];
        head.Clear();
        head[0] = kind;
        BinaryPrimitives.WriteInt32LittleEndian(head[4..], length);
        uint crc = CheckpointFormat.Crc32C(0, head, countBytes, tags, page);
        if (crc != BinaryPrimitives.ReadUInt32LittleEndian(trailer)) throw Unusable($"has a bad checksum in block {_blocks + 1}");
        _blocks++;
        try
        {
            sink(page, System.Runtime.InteropServices.MemoryMarshal.Cast<byte, int>(tags));
        }
        catch (InvalidDataException e)
        {
            throw Unusable($"has a malformed page in block {_blocks} ({e.Message})");
        }
        return (int)count;
    }

    private void ReadExactly(Span<byte> destination)
    {
        if (_file.ReadAtLeast(destination, destination.Length, throwOnEndOfStream: false) < destination.Length)
            throw Unusable("ends early (a block is cut short): a write that did not finish");
    }

    private (byte Kind, int Length) NextHead()
    {
        Span<byte> head = stackalloc byte[CheckpointFormat.BlockHeaderSize];
        if (_file.ReadAtLeast(head, head.Length, throwOnEndOfStream: false) < head.Length)
            throw Unusable("ends early (no footer): a write that did not finish");
        int length = BinaryPrimitives.ReadInt32LittleEndian(head[4..]);
        if (length < 0 || length > _file.Length - _file.Position) throw Unusable("ends early (a block is cut short): a write that did not finish");
        if (head[1] != 0 || head[2] != 0 || head[3] != 0) throw Unusable($"has a bad checksum in block {_blocks + 1}");
        return (head[0], length);
    }

    /// <summary>The payload of a block whose head was read, its checksum verified (valid until the next call).</summary>
    private ReadOnlySpan<byte> Rest(byte kind, int length)
    {
        int total = CheckpointFormat.BlockHeaderSize + length + CheckpointFormat.BlockTrailerSize;
        if (_block.Length < total)
        {
            ArrayPool<byte>.Shared.Return(_block);
            _block = ArrayPool<byte>.Shared.Rent(total);
        }
        _block.AsSpan(0, CheckpointFormat.BlockHeaderSize).Clear();
        _block[0] = kind;
        BinaryPrimitives.WriteInt32LittleEndian(_block.AsSpan(4), length);
        int rest = length + CheckpointFormat.BlockTrailerSize;
        ReadExactly(_block.AsSpan(CheckpointFormat.BlockHeaderSize, rest));
        var covered = _block.AsSpan(0, CheckpointFormat.BlockHeaderSize + length);
        if (CheckpointFormat.Crc32C(0, covered) != BinaryPrimitives.ReadUInt32LittleEndian(_block.AsSpan(covered.Length)))
            throw Unusable($"has a bad checksum in block {_blocks + 1}");
        _blocks++;
        return covered[CheckpointFormat.BlockHeaderSize..];
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
