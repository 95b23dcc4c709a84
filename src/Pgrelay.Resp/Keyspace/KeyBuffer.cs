using System.Buffers;

namespace Pgrelay.Resp.Keyspace;

/// <summary>Keys written back to back (KEYS, SCAN), with the ability to drop the last one that did not match.</summary>
public sealed class KeyBuffer : IBufferWriter<byte>
{
    private byte[] _buffer = new byte[1024];

    public int Length { get; private set; }
    public ReadOnlySpan<byte> Written => _buffer.AsSpan(0, Length);

    public void Advance(int count) => Length += count;

    public Memory<byte> GetMemory(int sizeHint = 0)
    {
        Ensure(sizeHint);
        return _buffer.AsMemory(Length);
    }

    public Span<byte> GetSpan(int sizeHint = 0)
    {
        Ensure(sizeHint);
        return _buffer.AsSpan(Length);
    }

    public void Truncate(int length) => Length = length;

    private void Ensure(int sizeHint)
    {
        int need = Length + Math.Max(sizeHint, 16);
        if (need > _buffer.Length) Array.Resize(ref _buffer, Math.Max(need, _buffer.Length * 2));
    }
}
