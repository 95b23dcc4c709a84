using System.Buffers;
using System.Text;
using System.Text.Unicode;

namespace Pgrelay.Core.Rendering;

/// <summary>
/// Writes UTF-8 bytes as a JSON string literal. Clean runs are copied in bulk; only quotes, backslashes
/// and control characters are escaped. Invalid UTF-8 (possible from a SQL_ASCII database) becomes
/// U+FFFD so the output is always valid JSON.
/// </summary>
public static class JsonStringWriter
{
    private static readonly SearchValues<byte> AsciiSpecials = SearchValues.Create(Specials(withNonAscii: false));
    private static readonly SearchValues<byte> SpecialsOrNonAscii = SearchValues.Create(Specials(withNonAscii: true));

    public static void Write(ReadOnlySpan<byte> utf8, IBufferWriter<byte> output)
    {
        JsonOutput.WriteByte(output, (byte)'"');
        WriteBody(utf8, output);
        JsonOutput.WriteByte(output, (byte)'"');
    }

    public static void Write(string text, IBufferWriter<byte> output) => Write(Encoding.UTF8.GetBytes(text), output);

    /// <summary>The escaped characters without the surrounding quotes.</summary>
    public static void WriteBody(ReadOnlySpan<byte> utf8, IBufferWriter<byte> output)
    {
        // Validating once up front is vectorized; only broken input takes the rune-by-rune path.
        var stops = Utf8.IsValid(utf8) ? AsciiSpecials : SpecialsOrNonAscii;
        while (!utf8.IsEmpty)
        {
            int i = utf8.IndexOfAny(stops);
            if (i < 0)
            {
                JsonOutput.Write(output, utf8);
                return;
            }
            JsonOutput.Write(output, utf8[..i]);
            utf8 = utf8[i..];
            byte b = utf8[0];
            if (b < 0x80)
            {
                WriteEscape(b, output);
                utf8 = utf8[1..];
                continue;
            }
            var status = Rune.DecodeFromUtf8(utf8, out _, out int consumed);
            JsonOutput.Write(output, status == OperationStatus.Done ? utf8[..consumed] : "\\ufffd"u8);
            utf8 = utf8[consumed..];
        }
    }

    private static void WriteEscape(byte b, IBufferWriter<byte> output)
    {
        var span = output.GetSpan(6);
        span[0] = (byte)'\\';
        byte simple = b switch
        {
            (byte)'"' => (byte)'"',
            (byte)'\\' => (byte)'\\',
            (byte)'\n' => (byte)'n',
            (byte)'\r' => (byte)'r',
            (byte)'\t' => (byte)'t',
            (byte)'\b' => (byte)'b',
            (byte)'\f' => (byte)'f',
            _ => 0,
        };
        if (simple != 0)
        {
            span[1] = simple;
            output.Advance(2);
            return;
        }
        "u00"u8.CopyTo(span[1..]);
        span[4] = HexDigit(b >> 4);
        span[5] = HexDigit(b & 0xF);
        output.Advance(6);
    }

    private static byte HexDigit(int nibble) => (byte)(nibble < 10 ? '0' + nibble : 'a' + nibble - 10);

    private static byte[] Specials(bool withNonAscii)
    {
        var list = new List<byte> { (byte)'"', (byte)'\\' };
        for (int b = 0; b < 0x20; b++) list.Add((byte)b);
        if (withNonAscii)
            for (int b = 0x80; b < 0x100; b++) list.Add((byte)b);
        return [.. list];
    }
}
