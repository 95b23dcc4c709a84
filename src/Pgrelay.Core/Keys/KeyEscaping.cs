namespace Pgrelay.Core.Keys;

/// <summary>
/// Percent-escaping of the pieces a cache key is made of, so that the key can be split back into them.
/// <para>
/// A piece escapes '%' (as <c>%25</c>) and the separator that delimits it (<c>/</c> between key parts as <c>%2F</c>,
/// <c>.</c> in publication, schema and table names as <c>%2E</c>); nothing else, so ordinary keys read as they always
/// did. These are the spellings a URL path segment uses, which is why an HTTP path segment and a key part carry the
/// same text. Since every '%' of a value is escaped, no value spells any other <c>%XX</c>: those are free to mean
/// something else (NULL is <c>%FF</c>, see <see cref="CacheKey"/>).
/// </para>
/// <para>Only this canonical spelling names a key (upper-case hex, nothing else escaped): keys are compared as bytes.</para>
/// </summary>
public static class KeyEscaping
{
    public const byte Escape = (byte)'%';

    private static ReadOnlySpan<byte> Hex => "0123456789ABCDEF"u8;

    public static bool NeedsEscape(byte b, byte separator) => b == Escape || b == separator;

    /// <summary>Length of <paramref name="value"/> once escaped.</summary>
    public static int EscapedLength(ReadOnlySpan<byte> value, byte separator)
    {
        if (value.IndexOfAny(Escape, separator) < 0) return value.Length;   // the common case, vectorised
        int length = value.Length;
        foreach (byte b in value)
            if (NeedsEscape(b, separator)) length += 2;
        return length;
    }

    /// <summary>Writes <paramref name="value"/> escaped; returns bytes written.</summary>
    public static int Write(ReadOnlySpan<byte> value, byte separator, Span<byte> destination)
    {
        if (value.IndexOfAny(Escape, separator) < 0)
        {
            value.CopyTo(destination);
            return value.Length;
        }
        int at = 0;
        foreach (byte b in value)
        {
            if (NeedsEscape(b, separator))
            {
                destination[at++] = Escape;
                destination[at++] = Hex[b >> 4];
                destination[at++] = Hex[b & 15];
            }
            else
            {
                destination[at++] = b;
            }
        }
        return at;
    }

    /// <summary>
    /// True when <paramref name="escaped"/> starts with the escaped spelling of <paramref name="value"/>; compares in
    /// place, and <paramref name="consumed"/> says how much of <paramref name="escaped"/> that spelling took.
    /// </summary>
    public static bool StartsWithEscaped(ReadOnlySpan<byte> escaped, ReadOnlySpan<byte> value, byte separator, out int consumed)
    {
        if (value.IndexOfAny(Escape, separator) < 0)
        {
            consumed = value.Length;
            return escaped.StartsWith(value);
        }
        int at = 0;
        foreach (byte b in value)
        {
            if (NeedsEscape(b, separator))
            {
                if (at + 3 > escaped.Length || escaped[at] != Escape || escaped[at + 1] != Hex[b >> 4] || escaped[at + 2] != Hex[b & 15])
                {
                    consumed = 0;
                    return false;
                }
                at += 3;
            }
            else
            {
                if (at >= escaped.Length || escaped[at] != b)
                {
                    consumed = 0;
                    return false;
                }
                at++;
            }
        }
        consumed = at;
        return true;
    }

    /// <summary>A name (publication, schema, table) escaped for its place between the key's dots.</summary>
    public static string EscapeName(string name)
    {
        var utf8 = System.Text.Encoding.UTF8.GetBytes(name);
        if (EscapedLength(utf8, CacheKey.Separator) == utf8.Length) return name;
        var escaped = new byte[EscapedLength(utf8, CacheKey.Separator)];
        Write(utf8, CacheKey.Separator, escaped);
        return System.Text.Encoding.UTF8.GetString(escaped);
    }

    /// <summary>Escapes <paramref name="value"/> into a new array (for the few callers that build keys off the hot path).</summary>
    public static byte[] Escaped(ReadOnlySpan<byte> value, byte separator)
    {
        var escaped = new byte[EscapedLength(value, separator)];
        Write(value, separator, escaped);
        return escaped;
    }
}
