namespace Pgrelay.Core.Rendering;

/// <summary>
/// Checks the RFC 8259 number grammar. PostgreSQL's integer, float and numeric output is almost always
/// a valid JSON number and is then copied verbatim, keeping every digit of a numeric; what is not
/// (NaN, Infinity) is rendered as a string instead of producing invalid JSON.
/// </summary>
public static class JsonNumberSyntax
{
    public static bool IsValid(ReadOnlySpan<byte> s)
    {
        int i = 0;
        if (i < s.Length && s[i] == '-') i++;
        if (i >= s.Length) return false;
        if (s[i] == '0') i++;
        else if (s[i] is >= (byte)'1' and <= (byte)'9') i = SkipDigits(s, i);
        else return false;

        if (i < s.Length && s[i] == '.')
        {
            int start = ++i;
            i = SkipDigits(s, i);
            if (i == start) return false;
        }
        if (i < s.Length && (s[i] == 'e' || s[i] == 'E'))
        {
            i++;
            if (i < s.Length && (s[i] == '+' || s[i] == '-')) i++;
            int start = i;
            i = SkipDigits(s, i);
            if (i == start) return false;
        }
        return i == s.Length;
    }

    private static int SkipDigits(ReadOnlySpan<byte> s, int i)
    {
        while (i < s.Length && (uint)(s[i] - '0') <= 9) i++;
        return i;
    }
}
