using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Pgrelay.Http;

/// <summary>
/// The /{publication}/{table}/{key} parts of a request, percent-decoded exactly once from the raw
/// request target. Kestrel's decoded path keeps "%2F" encoded (so it cannot split segments) but has
/// already turned "%25" into '%', so decoding it again would corrupt keys; the raw target avoids both.
/// </summary>
public readonly record struct RelayPath(string Publication, string Table, byte[] Key, bool HasKey)
{
    public static bool TryParse(HttpContext context, out RelayPath path)
    {
        string raw = context.Features.Get<IHttpRequestFeature>()?.RawTarget ?? "";
        if (raw.Length == 0 || raw[0] != '/' || context.Request.PathBase.HasValue)
            raw = context.Request.Path.Value ?? "";   // absolute-form target or a mounted app: routing's view is what we have
        int query = raw.IndexOf('?');
        if (query >= 0) raw = raw[..query];
        return TryParse(raw, out path);
    }

    public static bool TryParse(string rawPath, out RelayPath path)
    {
        path = default;
        var rest = rawPath.AsSpan().TrimStart('/');
        int first = rest.IndexOf('/');
        if (first <= 0) return false;
        var publication = rest[..first];
        rest = rest[(first + 1)..];
        int second = rest.IndexOf('/');
        var table = second < 0 ? rest : rest[..second];
        if (table.IsEmpty) return false;
        bool hasKey = second >= 0;
        var key = hasKey ? rest[(second + 1)..] : default;
        path = new RelayPath(Encoding.UTF8.GetString(PercentDecode(publication)), Encoding.UTF8.GetString(PercentDecode(table)),
            PercentDecode(key), hasKey);
        return true;
    }

    /// <summary>Decodes %XX to bytes; a '%' not followed by two hex digits stays literal. '+' is not a space in a path.</summary>
    public static byte[] PercentDecode(ReadOnlySpan<char> text)
    {
        var bytes = new byte[Encoding.UTF8.GetByteCount(text)];
        int n = 0;
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            if (c == '%' && i + 2 < text.Length && char.IsAsciiHexDigit(text[i + 1]) && char.IsAsciiHexDigit(text[i + 2]))
            {
                bytes[n++] = (byte)((HexValue(text[i + 1]) << 4) | HexValue(text[i + 2]));
                i += 2;
            }
            else if (c < 0x80)
            {
                bytes[n++] = (byte)c;
            }
            else
            {
                int runEnd = i;
                while (runEnd < text.Length && text[runEnd] >= 0x80) runEnd++;
                n += Encoding.UTF8.GetBytes(text[i..runEnd], bytes.AsSpan(n));
                i = runEnd - 1;
            }
        }
        return bytes.AsSpan(0, n).ToArray();
    }

    private static int HexValue(char c) => c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}
