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

    private Block _block;
    private int _start, _end;

    /// <summary>Bytes written and not yet sent.</summary>
    public int Length => _end - _start;

    /// <summary>Every byte ever written, for counters (memcached's bytes_written).</summary>
    public long TotalWritten { get; private set; }

    /// <summary>What is written and not yet sent (tests, and replies rendered in a scratch buffer).</summary>
    public ReadOnlySpan<byte> Unsent => _block.Span.Slice(_start, _end - _start);
    internal ReadOnlyMemory<byte> UnsentMemory => _block.Memory.Slice(_start, _end - _start);
    internal bool IsBorrowed => _block.IsBorrowed;

    public Span<byte> GetSpan(int sizeHint = 0)
    {
        if (_block.Length - _end < Math.Max(sizeHint, 1)) Grow(sizeHint);
        return _block.Span[_end..];
    }

    public Memory<byte> GetMemory(int sizeHint = 0)
    {
        if (_block.Length - _end < Math.Max(sizeHint, 1)) Grow(sizeHint);
        return _block.Memory[_end..];
    }

    public void Advance(int count)
    {
        _end += count;
        TotalWritten += count;
    }

    /// <summary>Writes through the shared <paramref name="scratch"/> while nothing is pending (event loop, one batch).</summary>
    internal void Borrow(byte[] scratch)
    {
        if (_end > 0 || _block.Length > 0) return;
        _block = Block.Borrow(scratch);
    }

    internal void MarkSent(int count)
    {
        _start += count;
        if (_start == _end) _start = _end = 0;
    }

    /// <summary>Copies what was not sent out of a borrowed buffer into one of the connection's own.</summary>
    internal void KeepUnsent()
    {
        if (!_block.IsBorrowed) return;
        if (Length == 0)
        {
            ReleaseStorage();
            return;
        }
        var own = Block.Rent(Block.RoundUp(Math.Max(Length, MinimumSize)));
        Unsent.CopyTo(own.Span);
        _end = Length;
        _start = 0;
        _block = own;
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
        var block = _block;
        _block = Block.Empty;
        _start = _end = 0;
        block.Return();
    }

    private void Grow(int sizeHint)
    {
        int length = Length;
        int need = Math.Max(sizeHint, 1);
        int capacity = _block.Length;
        if (!_block.IsBorrowed && _start > 0 && length <= capacity / 2 && capacity - length >= need)
        {
            Unsent.CopyTo(_block.Span);
            _start = 0;
            _end = length;
            return;
        }
        var bigger = Block.Rent(Block.RoundUp(Math.Max(Math.Max(2L * capacity, (long)length + need), MinimumSize)));
        Unsent.CopyTo(bigger.Span);
        _block.Return();
        _block = bigger;
        _start = 0;
        _end = length;
    }
}
