using System.Buffers;
using System.Buffers.Text;
using System.IO.Pipelines;

namespace Pgrelay.Memcached.Protocol;

/// <summary>
/// Writes replies straight into the connection's <see cref="PipeWriter"/> and counts what is pending, so the
/// session knows when to flush in the middle of a long pipeline (back-pressure) without asking the pipe.
/// </summary>
internal sealed class ResponseWriter(PipeWriter output) : IBufferWriter<byte>
{
    private long _pending;

    /// <summary>Bytes written since the last <see cref="TakePending"/>.</summary>
    public long Pending => _pending;

    public long TakePending()
    {
        long n = _pending;
        _pending = 0;
        return n;
    }

    public void Advance(int count)
    {
        output.Advance(count);
        _pending += count;
    }

    public Memory<byte> GetMemory(int sizeHint = 0) => output.GetMemory(sizeHint);
    public Span<byte> GetSpan(int sizeHint = 0) => output.GetSpan(sizeHint);

    public void Write(ReadOnlySpan<byte> bytes)
    {
        while (!bytes.IsEmpty)
        {
            var span = output.GetSpan(Math.Min(bytes.Length, 8192));
            int n = Math.Min(span.Length, bytes.Length);
            bytes[..n].CopyTo(span);
            Advance(n);
            bytes = bytes[n..];
        }
    }

    public void WriteByte(byte value)
    {
        output.GetSpan(1)[0] = value;
        Advance(1);
    }

    public void Space() => WriteByte((byte)' ');

    public void Crlf() => Write(Replies.Crlf);

    public void WriteNumber(ulong value)
    {
        var span = output.GetSpan(20);
        Utf8Formatter.TryFormat(value, span, out int n);
        Advance(n);
    }

    public void WriteNumber(long value)
    {
        var span = output.GetSpan(20);
        Utf8Formatter.TryFormat(value, span, out int n);
        Advance(n);
    }

    /// <summary>A space, a one-letter meta flag and its token: " c123".</summary>
    public void MetaFlag(byte flag, ReadOnlySpan<byte> token)
    {
        Space();
        WriteByte(flag);
        Write(token);
    }

    public void MetaFlag(byte flag, ulong value)
    {
        Space();
        WriteByte(flag);
        WriteNumber(value);
    }

    /// <summary>"STAT name value\r\n".</summary>
    public void Stat(ReadOnlySpan<byte> name, long value)
    {
        Write("STAT "u8);
        Write(name);
        Space();
        WriteNumber(value);
        Crlf();
    }

    public void Stat(ReadOnlySpan<byte> name, ReadOnlySpan<byte> value)
    {
        Write("STAT "u8);
        Write(name);
        Space();
        Write(value);
        Crlf();
    }

    public void Stat(ReadOnlySpan<byte> name, string value) => Stat(name, System.Text.Encoding.UTF8.GetBytes(value));
}
