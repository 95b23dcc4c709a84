using System.Buffers;
using System.Buffers.Text;

namespace Pgrelay.Core.Rendering;

/// <summary>
/// bytea arrives in hex output format ("\x0a0b"); JSON gets it as base64, a third smaller than hex.
/// Decoding and encoding go chunk by chunk through the stack, so a large value costs no allocation.
/// </summary>
public static class ByteaRenderer
{
    private const int ChunkBytes = 3 * 256;   // a multiple of 3: no base64 padding between chunks
    private static readonly SearchValues<byte> HexDigits = SearchValues.Create("0123456789abcdefABCDEF"u8);

    /// <summary>True when the value is in hex format; anything else (escape format) renders as a plain string.</summary>
    public static bool IsHexFormat(ReadOnlySpan<byte> text) =>
        text.Length >= 2 && text[0] == '\\' && text[1] == 'x' && (text.Length & 1) == 0 &&
        text[2..].IndexOfAnyExcept(HexDigits) < 0;

    public static void Write(ReadOnlySpan<byte> text, IBufferWriter<byte> output)
    {
        if (!IsHexFormat(text))
        {
            JsonStringWriter.Write(text, output);
            return;
        }
        var hex = text[2..];
        Span<byte> chunk = stackalloc byte[ChunkBytes];
        JsonOutput.WriteByte(output, (byte)'"');
        while (!hex.IsEmpty)
        {
            int n = Math.Min(ChunkBytes, hex.Length / 2);
            for (int i = 0; i < n; i++)
                chunk[i] = (byte)((Nibble(hex[2 * i]) << 4) | Nibble(hex[2 * i + 1]));
            hex = hex[(2 * n)..];
            var span = output.GetSpan(Base64.GetMaxEncodedToUtf8Length(n));
            Base64.EncodeToUtf8(chunk[..n], span, out _, out int written, isFinalBlock: hex.IsEmpty);
            output.Advance(written);
        }
        JsonOutput.WriteByte(output, (byte)'"');
    }

    private static int Nibble(byte c) => c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}
