using System.Buffers.Binary;
using System.Buffers.Text;
using Pgrelay.Transport.Buffers;

namespace Pgrelay.Memcached.Protocol;

/// <summary>
/// Writes replies in place into the connection's output buffer: the many small pieces of a reply ("VALUE ", key,
/// flags, length, data) each cost a bounds check and a copy, nothing more.
/// </summary>
internal sealed class ResponseWriter(OutputBuffer output)
{
    public OutputBuffer Output => output;

    public void Write(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length <= 4096)
        {
            bytes.CopyTo(output.GetSpan(bytes.Length));
            output.Advance(bytes.Length);
            return;
        }
        while (!bytes.IsEmpty)
        {
            var span = output.GetSpan(Math.Min(bytes.Length, 65536));
            int n = Math.Min(span.Length, bytes.Length);
            bytes[..n].CopyTo(span);
            output.Advance(n);
            bytes = bytes[n..];
        }
    }

    public void WriteByte(byte value)
    {
        output.GetSpan(1)[0] = value;
        output.Advance(1);
    }

    public void Space() => WriteByte((byte)' ');

    public void Crlf() => Write(Replies.Crlf);

    public void WriteNumber(ulong value)
    {
        Utf8Formatter.TryFormat(value, output.GetSpan(20), out int n);
        output.Advance(n);
    }

    public void WriteNumber(long value)
    {
        Utf8Formatter.TryFormat(value, output.GetSpan(20), out int n);
        output.Advance(n);
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

    /// <summary>The 24-byte header of a binary-protocol response (protocol_binary.txt), in network byte order.</summary>
    public void BinaryHeader(byte opcode, ushort status, byte extras, int keyLength, int bodyLength, uint opaque, ulong cas)
    {
        var span = output.GetSpan(24);
        span[0] = 0x81;
        span[1] = opcode;
        BinaryPrimitives.WriteUInt16BigEndian(span[2..], (ushort)keyLength);
        span[4] = extras;
        span[5] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(span[6..], status);
        BinaryPrimitives.WriteInt32BigEndian(span[8..], bodyLength);
        BinaryPrimitives.WriteUInt32LittleEndian(span[12..], opaque);   // echoed as received
        BinaryPrimitives.WriteUInt64BigEndian(span[16..], cas);
        output.Advance(24);
    }
}
