namespace Pgrelay.Resp.Keyspace;

/// <summary>
/// Redis's glob (<c>stringmatchlen</c> in util.c): <c>*</c>, <c>?</c>, <c>[a-z]</c>, <c>[^x]</c> and <c>\</c>
/// escapes, byte-wise and case-sensitive, with the same guards against abusive patterns, so KEYS, SCAN
/// MATCH, PSUBSCRIBE and ACL key patterns select exactly what they select in Redis.
/// </summary>
public static class GlobPattern
{
    public static bool IsMatch(ReadOnlySpan<byte> pattern, ReadOnlySpan<byte> text)
    {
        bool skipLonger = false;
        return Match(pattern, text, ref skipLonger, 0);
    }

    /// <summary>True for "*": a pattern that matches everything needs no per-key test.</summary>
    public static bool MatchesAll(ReadOnlySpan<byte> pattern) => pattern.Length == 1 && pattern[0] == (byte)'*';

    private static bool Match(ReadOnlySpan<byte> pattern, ReadOnlySpan<byte> text, ref bool skipLonger, int nesting)
    {
        if (nesting > 1000) return false;
        int p = 0, s = 0;
        while (p < pattern.Length && s < text.Length)
        {
            switch (pattern[p])
            {
                case (byte)'*':
                    while (p + 1 < pattern.Length && pattern[p + 1] == (byte)'*') p++;
                    if (p == pattern.Length - 1) return true;
                    while (s < text.Length)
                    {
                        if (Match(pattern[(p + 1)..], text[s..], ref skipLonger, nesting + 1)) return true;
                        if (skipLonger) return false;
                        s++;
                    }
                    // Nothing after this star matches anywhere in the rest: an earlier star taking more cannot help.
                    skipLonger = true;
                    return false;
                case (byte)'?':
                    s++;
                    break;
                case (byte)'[':
                {
                    p++;
                    bool negate = p < pattern.Length && pattern[p] == (byte)'^';
                    if (negate) p++;
                    bool match = false;
                    while (true)
                    {
                        if (p < pattern.Length && pattern[p] == (byte)'\\' && pattern.Length - p >= 2)
                        {
                            p++;
                            if (pattern[p] == text[s]) match = true;
                        }
                        else if (p < pattern.Length && pattern[p] == (byte)']')
                        {
                            break;
                        }
                        else if (p >= pattern.Length)
                        {
                            p--;   // unterminated class: the last byte closes it, as in Redis
                            break;
                        }
                        else if (pattern.Length - p >= 3 && pattern[p + 1] == (byte)'-')
                        {
                            int start = pattern[p], end = pattern[p + 2], c = text[s];
                            if (start > end) (start, end) = (end, start);
                            p += 2;
                            if (c >= start && c <= end) match = true;
                        }
                        else if (pattern[p] == text[s])
                        {
                            match = true;
                        }
                        p++;
                    }
                    if (negate) match = !match;
                    if (!match) return false;
                    s++;
                    break;
                }
                case (byte)'\\':
                    if (pattern.Length - p >= 2) p++;
                    if (pattern[p] != text[s]) return false;
                    s++;
                    break;
                default:
                    if (pattern[p] != text[s]) return false;
                    s++;
                    break;
            }
            p++;
            if (s == text.Length)
            {
                while (p < pattern.Length && pattern[p] == (byte)'*') p++;
                break;
            }
        }
        return p == pattern.Length && s == text.Length;
    }
}
