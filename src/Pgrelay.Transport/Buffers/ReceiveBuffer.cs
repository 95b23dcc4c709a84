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

    private byte[] _array = [];
    private int _start, _end;

    public int Length => _end - _start;
    public int Capacity => _array.Length;
    public ReadOnlySpan<byte> Data => _array.AsSpan(_start, _end - _start);

    /// <summary>
    /// Room for the next read: at least one byte, and at least <see cref="ReadSize"/> or the <paramref name="missing"/>
    /// bytes the session still needs (whichever is smaller), shifting or growing as the cost contract allows.
    /// </summary>
    public Memory<byte> GetWritable(int missing)
    {
        int want = missing is > 0 and < ReadSize ? missing : ReadSize;
        int free = _array.Length - _end;
        if (free >= want) return _array.AsMemory(_end);
        int length = Length;
        if (_array.Length > 0 && length <= _array.Length / 2 && _array.Length - length >= want)
        {
            _array.AsSpan(_start, length).CopyTo(_array);
            _start = 0;
            _end = length;
            return _array.AsMemory(_end);
        }
        long size = Math.Max(2L * _array.Length, (long)length + want);
        if (missing > want) size = Math.Min(size, Math.Max((long)length + missing, (long)length + want));
        Resize(BufferArrays.RoundUp(Math.Max(size, ReadSize)));
        return _array.AsMemory(_end);
    }

    public void Commit(int count) => _end += count;

    /// <summary>Keeps bytes that were read elsewhere (the event loop's shared read buffer) and not consumed.</summary>
    public void Append(ReadOnlySpan<byte> bytes)
    {
        if (_array.Length - _end < bytes.Length)
        {
            if (Length + bytes.Length <= _array.Length)
            {
                Data.CopyTo(_array);
                _end = Length;
                _start = 0;
            }
            else Resize(BufferArrays.RoundUp(Math.Max(Math.Max(2L * _array.Length, (long)Length + bytes.Length), ReadSize)));
        }
        bytes.CopyTo(_array.AsSpan(_end));
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
        var array = _array;
        _array = [];
        _start = _end = 0;
        BufferArrays.Return(array);
    }

    private void Resize(int size)
    {
        var bigger = BufferArrays.Rent(size);
        Data.CopyTo(bigger);
        _end = Length;
        _start = 0;
        var old = _array;
        _array = bigger;
        BufferArrays.Return(old);
    }
}
