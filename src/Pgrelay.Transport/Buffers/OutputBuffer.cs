using System.Buffers;

namespace Pgrelay.Transport.Buffers;

/// <summary>
/// Where a session writes its replies, in place: <c>[start, end)</c> is written and not yet sent. One per connection,
/// the same object for its whole life, so a session binds its writer to it once.
/// <para>
/// The storage changes under it. On an event loop it borrows the loop's shared buffer for a batch, and everything
/// a socket takes at once goes out from there without a copy. Only what the socket would not take is copied into an
/// array of the connection's own (<see cref="KeepUnsent"/>). Once everything is sent the storage is given back, so
/// an idle connection holds no output buffer. Doubling growth keeps a huge reply linear in its size.
/// </para>
/// </summary>
public sealed class OutputBuffer : IBufferWriter<byte>
{
    private const int MinimumSize = 4096;

    private byte[] _array = [];
    private int _start, _end;
    private bool _borrowed;

    /// <summary>Bytes written and not yet sent.</summary>
    public int Length => _end - _start;

    /// <summary>Every byte ever written, for counters (memcached's bytes_written).</summary>
    public long TotalWritten { get; private set; }

    /// <summary>What is written and not yet sent (tests, and replies rendered in a scratch buffer).</summary>
    public ReadOnlySpan<byte> Unsent => _array.AsSpan(_start, _end - _start);
    internal ReadOnlyMemory<byte> UnsentMemory => _array.AsMemory(_start, _end - _start);
    internal bool IsBorrowed => _borrowed;

    public Span<byte> GetSpan(int sizeHint = 0)
    {
        if (_array.Length - _end < Math.Max(sizeHint, 1)) Grow(sizeHint);
        return _array.AsSpan(_end);
    }

    public Memory<byte> GetMemory(int sizeHint = 0)
    {
        if (_array.Length - _end < Math.Max(sizeHint, 1)) Grow(sizeHint);
        return _array.AsMemory(_end);
    }

    public void Advance(int count)
    {
        _end += count;
        TotalWritten += count;
    }

    /// <summary>Writes through the shared <paramref name="scratch"/> while nothing is pending (event loop, one batch).</summary>
    internal void Borrow(byte[] scratch)
    {
        if (_end > 0 || _array.Length > 0) return;
        _array = scratch;
        _borrowed = true;
    }

    internal void MarkSent(int count)
    {
        _start += count;
        if (_start == _end) _start = _end = 0;
    }

    /// <summary>Copies what was not sent out of a borrowed buffer into one of the connection's own.</summary>
    internal void KeepUnsent()
    {
        if (!_borrowed) return;
        if (Length == 0)
        {
            ReleaseStorage();
            return;
        }
        var own = BufferArrays.Rent(BufferArrays.RoundUp(Math.Max(Length, MinimumSize)));
        Unsent.CopyTo(own);
        _end = Length;
        _start = 0;
        _array = own;
        _borrowed = false;
    }

    /// <summary>Once everything is sent: gives the storage back (to the loop or the pool).</summary>
    internal void ReleaseIfEmpty()
    {
        if (Length == 0) ReleaseStorage();
    }

    /// <summary>Drops unsent bytes and the storage (the connection is closing).</summary>
    internal void Discard()
    {
        _start = _end = 0;
        ReleaseStorage();
    }

    private void ReleaseStorage()
    {
        var array = _array;
        bool borrowed = _borrowed;
        _array = [];
        _borrowed = false;
        _start = _end = 0;
        if (!borrowed) BufferArrays.Return(array);
    }

    private void Grow(int sizeHint)
    {
        int length = Length;
        int need = Math.Max(sizeHint, 1);
        if (!_borrowed && _start > 0 && length <= _array.Length / 2 && _array.Length - length >= need)
        {
            Unsent.CopyTo(_array);
            _start = 0;
            _end = length;
            return;
        }
        var bigger = BufferArrays.Rent(BufferArrays.RoundUp(Math.Max(Math.Max(2L * _array.Length, (long)length + need), MinimumSize)));
        Unsent.CopyTo(bigger);
        if (!_borrowed) BufferArrays.Return(_array);
        _array = bigger;
        _borrowed = false;
        _start = 0;
        _end = length;
    }
}
