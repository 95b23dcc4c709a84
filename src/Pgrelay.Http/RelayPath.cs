using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Pgrelay.Core.Keys;

namespace Pgrelay.Http;

/// <summary>
/// The /{publication}/{table}/{k1}/{k2}… parts of a request, percent-decoded exactly once from the raw request target.
/// Kestrel's decoded path keeps "%2F" encoded (so it cannot split segments) but has already turned "%25" into '%', so
/// decoding it again would corrupt keys; the raw target avoids both.
/// <para>
/// Each segment after the table is one key part: decoded like any URL segment, then spelled as the key convention spells
/// a part (<see cref="CacheKey"/>), so <c>/pub/t/x%2Fy/z</c> is the row <c>pub.t.x%2Fy/z</c> (parts <c>x/y</c> and
/// <c>z</c>), the segment <c>%FF</c> is a NULL part (as in keys), and the last segment of a copied row in a table without primary key is its copy
/// number. The table segment is the key's table part: a raw '.' separates schema from table, and a name holding a '.'
/// writes it <c>%2E</c>. <see cref="Table"/> and <see cref="Key"/> are in key spelling; <see cref="Publication"/> is the name.
/// </para>
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
        if (TableKeyName(table) is not { } tableName) return false;
        bool hasKey = second >= 0;
        var key = hasKey ? rest[(second + 1)..] : default;
        path = new RelayPath(Encoding.UTF8.GetString(PercentDecode(publication)), tableName, hasKey ? RowKey(key) : [], hasKey);
        return true;
    }

    /// <summary>
    /// The table segment in key spelling: names split at raw dots, each decoded, then escaped. An empty name (".", "s.",
    /// ".t") names no table: PostgreSQL has no zero-length identifiers, and dropping it would alias another table.
    /// </summary>
    private static string? TableKeyName(ReadOnlySpan<char> segment)
    {
        var name = new StringBuilder();
        bool first = true;
        foreach (var range in segment.Split('.'))
        {
            if (segment[range].IsEmpty) return null;
            if (!first) name.Append('.');
            first = false;
            name.Append(KeyEscaping.EscapeName(Encoding.UTF8.GetString(PercentDecode(segment[range]))));
        }
        return name.ToString();
    }

    /// <summary>Key segments as the row key: each decoded, escaped as a key part, joined by '/'.</summary>
    private static byte[] RowKey(ReadOnlySpan<char> segments)
    {
        var key = new List<byte>(segments.Length + 8);
        bool firstPart = true;
        foreach (var range in segments.Split('/'))
        {
            if (!firstPart) key.Add(CacheKey.KeyJoiner);
            firstPart = false;
            var segment = segments[range];
            if (segment.Equals("%FF", StringComparison.OrdinalIgnoreCase)) key.AddRange(CacheKey.NullPart);
            else key.AddRange(KeyEscaping.Escaped(PercentDecode(segment), CacheKey.KeyJoiner));
        }
        return [.. key];
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
