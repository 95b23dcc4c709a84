using System.Buffers;
using System.Buffers.Text;
using System.Text;

namespace Pgrelay.Resp.Protocol;

/// <summary>
/// Writes RESP2 or RESP3 replies straight into the connection's output buffer. Aggregates that RESP2
/// lacks degrade the way Redis degrades them: maps become flat arrays, null is <c>$-1</c>, pushes are arrays.
/// </summary>
public sealed class RespWriter
{
    private IBufferWriter<byte> _output;

    public RespWriter(IBufferWriter<byte> output) => _output = output;

    /// <summary>2 or 3, switched by HELLO.</summary>
    public int Protocol { get; set; } = 2;

    public bool IsResp3 => Protocol >= 3;

    /// <summary>Points the writer at another buffer (tests, or a scratch buffer).</summary>
    public void Retarget(IBufferWriter<byte> output) => _output = output;

    public void WriteSimple(ReadOnlySpan<byte> text)
    {
        var span = _output.GetSpan(text.Length + 3);
        span[0] = (byte)'+';
        text.CopyTo(span[1..]);
        span[text.Length + 1] = (byte)'\r';
        span[text.Length + 2] = (byte)'\n';
        _output.Advance(text.Length + 3);
    }

    public void WriteOk() => WriteRaw("+OK\r\n"u8);

    /// <summary>Writes an error; <paramref name="message"/> starts with its code (ERR, WRONGTYPE, NOPERM...).</summary>
    public void WriteError(ReadOnlySpan<byte> message)
    {
        var span = _output.GetSpan(message.Length + 3);
        span[0] = (byte)'-';
        // CR and LF would end the error early and desynchronise the client.
        for (int i = 0; i < message.Length; i++)
            span[i + 1] = message[i] is (byte)'\r' or (byte)'\n' ? (byte)' ' : message[i];
        span[message.Length + 1] = (byte)'\r';
        span[message.Length + 2] = (byte)'\n';
        _output.Advance(message.Length + 3);
    }

    public void WriteError(string message)
    {
        int max = Encoding.UTF8.GetMaxByteCount(message.Length);
        byte[]? rented = null;
        Span<byte> buffer = max <= 512 ? stackalloc byte[512] : (rented = ArrayPool<byte>.Shared.Rent(max));
        int length = Encoding.UTF8.GetBytes(message, buffer);
        WriteError(buffer[..length]);
        if (rented is not null) ArrayPool<byte>.Shared.Return(rented);
    }

    public void WriteInteger(long value) => WritePrefixed((byte)':', value);

    /// <summary>Values up to this size go out with one GetSpan/Advance (header, bytes and CRLF together).</summary>
    private const int SmallBulk = 4096;

    public void WriteBulk(ReadOnlySpan<byte> value)
    {
        if (value.Length <= SmallBulk)
        {
            // One reservation instead of three: HGETALL writes two bulks per column, and the pipe's
            // GetSpan/Advance bookkeeping was most of what rendering a row cost.
            var span = _output.GetSpan(value.Length + 16);
            span[0] = (byte)'$';
            Utf8Formatter.TryFormat(value.Length, span[1..], out int digits);
            int at = digits + 1;
            span[at] = (byte)'\r';
            span[at + 1] = (byte)'\n';
            at += 2;
            value.CopyTo(span[at..]);
            at += value.Length;
            span[at] = (byte)'\r';
            span[at + 1] = (byte)'\n';
            _output.Advance(at + 2);
            return;
        }
        WritePrefixed((byte)'$', value.Length);
        WriteRaw(value);
        WriteCrlf();
    }

    public void WriteBulk(string value)
    {
        int length = Encoding.UTF8.GetByteCount(value);
        WritePrefixed((byte)'$', length);
        var span = _output.GetSpan(length + 2);
        Encoding.UTF8.GetBytes(value, span);
        span[length] = (byte)'\r';
        span[length + 1] = (byte)'\n';
        _output.Advance(length + 2);
    }

    /// <summary>An integer as a bulk string (SCAN cursors are strings on the wire).</summary>
    public void WriteBulk(ulong value)
    {
        Span<byte> digits = stackalloc byte[20];
        Utf8Formatter.TryFormat(value, digits, out int length);
        WriteBulk(digits[..length]);
    }

    /// <summary>A missing value: <c>$-1</c> in RESP2, <c>_</c> in RESP3.</summary>
    public void WriteNull() => WriteRaw(IsResp3 ? "_\r\n"u8 : "$-1\r\n"u8);

    /// <summary>A missing aggregate: <c>*-1</c> in RESP2, <c>_</c> in RESP3.</summary>
    public void WriteNullArray() => WriteRaw(IsResp3 ? "_\r\n"u8 : "*-1\r\n"u8);

    public void WriteArrayHeader(int count) => WritePrefixed((byte)'*', count);

    /// <summary>A map of <paramref name="pairs"/> entries: <c>%</c> in RESP3, a flat array of 2n in RESP2.</summary>
    public void WriteMapHeader(int pairs)
    {
        if (IsResp3) WritePrefixed((byte)'%', pairs);
        else WritePrefixed((byte)'*', pairs * 2);
    }

    /// <summary>A set: <c>~</c> in RESP3, an array in RESP2.</summary>
    public void WriteSetHeader(int count) => WritePrefixed(IsResp3 ? (byte)'~' : (byte)'*', count);

    /// <summary>An out-of-band message: <c>&gt;</c> in RESP3, an array in RESP2 (pub/sub messages).</summary>
    public void WritePushHeader(int count) => WritePrefixed(IsResp3 ? (byte)'>' : (byte)'*', count);

    public void WriteDouble(double value)
    {
        Span<byte> text = stackalloc byte[32];
        int length;
        if (double.IsPositiveInfinity(value)) { "inf"u8.CopyTo(text); length = 3; }
        else if (double.IsNegativeInfinity(value)) { "-inf"u8.CopyTo(text); length = 4; }
        else if (double.IsNaN(value)) { "nan"u8.CopyTo(text); length = 3; }
        else value.TryFormat(text, out length, "R", System.Globalization.CultureInfo.InvariantCulture);
        if (!IsResp3) { WriteBulk(text[..length]); return; }
        var span = _output.GetSpan(length + 3);
        span[0] = (byte)',';
        text[..length].CopyTo(span[1..]);
        span[length + 1] = (byte)'\r';
        span[length + 2] = (byte)'\n';
        _output.Advance(length + 3);
    }

    public void WriteBoolean(bool value)
    {
        if (IsResp3) WriteRaw(value ? "#t\r\n"u8 : "#f\r\n"u8);
        else WriteInteger(value ? 1 : 0);
    }

    /// <summary>Copies bytes as they are, in chunks so a large value never needs one huge buffer.</summary>
    public void WriteRaw(ReadOnlySpan<byte> bytes)
    {
        while (!bytes.IsEmpty)
        {
            var span = _output.GetSpan(Math.Min(bytes.Length, 65536));
            int n = Math.Min(span.Length, bytes.Length);
            bytes[..n].CopyTo(span);
            _output.Advance(n);
            bytes = bytes[n..];
        }
    }

    private void WriteCrlf()
    {
        var span = _output.GetSpan(2);
        span[0] = (byte)'\r';
        span[1] = (byte)'\n';
        _output.Advance(2);
    }

    private void WritePrefixed(byte prefix, long value)
    {
        var span = _output.GetSpan(24);
        span[0] = prefix;
        Utf8Formatter.TryFormat(value, span[1..], out int length);
        span[length + 1] = (byte)'\r';
        span[length + 2] = (byte)'\n';
        _output.Advance(length + 3);
    }
}
