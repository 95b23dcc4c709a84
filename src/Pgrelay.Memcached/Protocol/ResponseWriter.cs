using System.Buffers;
using System.Buffers.Text;
using System.IO.Pipelines;

namespace Pgrelay.Memcached.Protocol;

/// <summary>
/// Writes replies into the connection's <see cref="PipeWriter"/> through a chunk of its memory held here: the
/// many small pieces of a reply ("VALUE ", key, flags, length, data) are copied into that chunk and the pipe is
/// advanced once per chunk or at <see cref="Commit"/>, because every <c>PipeWriter.Advance</c> of a
/// <see cref="Pipe"/> takes the pipe's lock. Counts what is pending, so the session knows when to flush in the
/// middle of a long pipeline (back-pressure) without asking the pipe.
/// </summary>
internal sealed class ResponseWriter(PipeWriter output) : IBufferWriter<byte>
{
    /// <summary>Ask the pipe for at least this much at a time: a block of Kestrel's pool holds many replies.</summary>
    private const int ChunkSize = 4096;

    private Memory<byte> _chunk;   // pipe memory not yet advanced
    private int _used;             // bytes of _chunk written
    private long _committed;       // bytes advanced into the pipe since the last TakePending

    /// <summary>Bytes written since the last <see cref="TakePending"/>, committed or not.</summary>
    public long Pending => _committed + _used;

    /// <summary>Hands what was written to the pipe; call before flushing it.</summary>
    public void Commit()
    {
        if (_used > 0)
        {
            output.Advance(_used);
            _committed += _used;
        }
        _used = 0;
        _chunk = default;
    }

    /// <summary>Commits, and returns (and forgets) the count of bytes written since the last call.</summary>
    public long TakePending()
    {
        Commit();
        long n = _committed;
        _committed = 0;
        return n;
    }

    public void Advance(int count) => _used += count;

    public Memory<byte> GetMemory(int sizeHint = 0)
    {
        Ensure(sizeHint);
        return _chunk[_used..];
    }

    public Span<byte> GetSpan(int sizeHint = 0)
    {
        Ensure(sizeHint);
        return _chunk.Span[_used..];
    }

    private void Ensure(int sizeHint)
    {
        if (_chunk.Length - _used >= Math.Max(sizeHint, 1)) return;
        Commit();
        _chunk = output.GetMemory(Math.Max(sizeHint, ChunkSize));
    }

    public void Write(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length <= _chunk.Length - _used)
        {
            bytes.CopyTo(_chunk.Span[_used..]);
            _used += bytes.Length;
            return;
        }
        while (!bytes.IsEmpty)
        {
            var span = GetSpan(Math.Min(bytes.Length, ChunkSize));
            int n = Math.Min(span.Length, bytes.Length);
            bytes[..n].CopyTo(span);
            _used += n;
            bytes = bytes[n..];
        }
    }

    public void WriteByte(byte value)
    {
        GetSpan(1)[0] = value;
        _used++;
    }

    public void Space() => WriteByte((byte)' ');

    public void Crlf() => Write(Replies.Crlf);

    public void WriteNumber(ulong value)
    {
        Utf8Formatter.TryFormat(value, GetSpan(20), out int n);
        _used += n;
    }

    public void WriteNumber(long value)
    {
        Utf8Formatter.TryFormat(value, GetSpan(20), out int n);
        _used += n;
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
