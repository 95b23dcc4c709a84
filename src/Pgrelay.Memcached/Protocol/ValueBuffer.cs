using System.Buffers;

namespace Pgrelay.Memcached.Protocol;

/// <summary>
/// Where a row is rendered before it is sent: memcached states a value's length before its bytes, and JSON
/// rendering learns the length only at the end. One per connection, from the shared pool, reused for every
/// value; an unusually large value's buffer goes back to the pool after the request instead of staying.
/// </summary>
internal sealed class ValueBuffer : IBufferWriter<byte>, IDisposable
{
    private const int InitialSize = 4096;
    private const int KeepAtMost = 256 * 1024;
    private byte[] _buffer = ArrayPool<byte>.Shared.Rent(InitialSize);
    private int _length;

    public ReadOnlySpan<byte> Written => _buffer.AsSpan(0, _length);
    public int Length => _length;

    public void Clear() => _length = 0;

    public void Advance(int count) => _length += count;

    public Memory<byte> GetMemory(int sizeHint = 0)
    {
        Ensure(sizeHint);
        return _buffer.AsMemory(_length);
    }

    public Span<byte> GetSpan(int sizeHint = 0)
    {
        Ensure(sizeHint);
        return _buffer.AsSpan(_length);
    }

    /// <summary>Gives a grown buffer back once a request is done, so an idle connection holds little.</summary>
    public void Trim()
    {
        _length = 0;
        if (_buffer.Length <= KeepAtMost) return;
        ArrayPool<byte>.Shared.Return(_buffer);
        _buffer = ArrayPool<byte>.Shared.Rent(InitialSize);
    }

    public void Dispose()
    {
        var buffer = _buffer;
        _buffer = [];
        _length = 0;
        if (buffer.Length > 0) ArrayPool<byte>.Shared.Return(buffer);
    }

    private void Ensure(int sizeHint)
    {
        int need = Math.Max(sizeHint, 1);
        if (_buffer.Length - _length >= need) return;
        long size = Math.Max((long)_buffer.Length * 2, (long)_length + need);
        var bigger = ArrayPool<byte>.Shared.Rent((int)Math.Min(size, Array.MaxLength));
        _buffer.AsSpan(0, _length).CopyTo(bigger);
        if (_buffer.Length > 0) ArrayPool<byte>.Shared.Return(_buffer);
        _buffer = bigger;
    }
}
