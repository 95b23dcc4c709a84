namespace Pgrelay.Transport.Buffers;

/// <summary>
/// A connection's unconsumed input, in one contiguous array: <c>[start, end)</c> is what the session has not consumed
/// yet (a partial request), and reads append after <c>end</c>.
/// <para>
/// Cost contract, so parsing stays linear in the bytes received: the unread tail is shifted to the front only when
/// it fills at most half of the array, and otherwise the array doubles. Either way at least as many new bytes fit
/// as were copied, so every received byte is copied O(1) times however the input is split. Growth follows bytes that
/// actually arrived, never a length a client merely claims; the session's "missing bytes" hint only caps the last
/// step, so a 66 MB argument ends in a 66 MB array rather than a 128 MB one. Empty, the array is given back: an idle
/// connection holds no receive buffer at all.
/// </para>
/// </summary>
internal sealed class ReceiveBuffer
{
    /// <summary>A read asks for at least this much room (Redis reads 16 KiB at a time; memcached's read buffer is 16 KiB).</summary>
    public const int ReadSize = 16 * 1024;

    private Block _block;
    private int _start, _end;

    public int Length => _end - _start;
    public int Capacity => _block.Length;

    /// <summary>Bytes moved by shifts and growth over the buffer's life (the cost contract's check).</summary>
    internal long BytesCopied { get; private set; }
    public ReadOnlySpan<byte> Data => _block.Span.Slice(_start, _end - _start);

    /// <summary>
    /// Room for the next read: at least one byte, and at least <see cref="ReadSize"/> or the <paramref name="missing"/>
    /// bytes the session still needs (whichever is smaller), shifting or growing as the cost contract allows.
    /// </summary>
    public Memory<byte> GetWritable(int missing)
    {
        int want = missing is > 0 and < ReadSize ? missing : ReadSize;
        int capacity = _block.Length;
        if (capacity - _end >= want) return _block.Memory[_end..];
        int length = Length;
        if (capacity > 0 && length <= capacity / 2 && capacity - length >= want)
        {
            var span = _block.Span;
            span.Slice(_start, length).CopyTo(span);
            BytesCopied += length;
            _start = 0;
            _end = length;
            return _block.Memory[_end..];
        }
        long size = Math.Max(2L * capacity, (long)length + want);
        if (missing > want) size = Math.Min(size, Math.Max((long)length + missing, (long)length + want));
        Resize(Block.RoundUp(Math.Max(size, ReadSize)));
        return _block.Memory[_end..];
    }

    public void Commit(int count) => _end += count;

    /// <summary>Keeps bytes that were read elsewhere (the event loop's shared read buffer) and not consumed.</summary>
    public void Append(ReadOnlySpan<byte> bytes)
    {
        if (_block.Length - _end < bytes.Length)
        {
            if (Length + bytes.Length <= _block.Length)
            {
                BytesCopied += Length;
                Data.CopyTo(_block.Span);
                _end = Length;
                _start = 0;
            }
            else Resize(Block.RoundUp(Math.Max(Math.Max(2L * _block.Length, (long)Length + bytes.Length), ReadSize)));
        }
        bytes.CopyTo(_block.Span[_end..]);
        _end += bytes.Length;
    }

    public void Consume(int count)
    {
        _start += count;
        if (_start == _end) Release();
    }

    /// <summary>Gives the array back (an empty buffer holds nothing).</summary>
    public void Release()
    {
        var block = _block;
        _block = Block.Empty;
        _start = _end = 0;
        block.Return();
    }

    private void Resize(int size)
    {
        var bigger = Block.Rent(size);
        BytesCopied += Length;
        Data.CopyTo(bigger.Span);
        _end = Length;
        _start = 0;
        var old = _block;
        _block = bigger;
        old.Return();
    }
}
