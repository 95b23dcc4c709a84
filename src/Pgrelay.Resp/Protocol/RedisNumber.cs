namespace Pgrelay.Resp.Protocol;

/// <summary>Redis's <c>string2ll</c>: no sign but '-', no leading zeros, no spaces, at most 20 characters.</summary>
internal static class RedisNumber
{
    public static bool TryParse(ReadOnlySpan<byte> text, out long value)
    {
        value = 0;
        if (text.IsEmpty || text.Length >= 21) return false;
        if (text.Length == 1 && text[0] == '0') return true;
        int i = 0;
        bool negative = text[0] == '-';
        if (negative && ++i == text.Length) return false;
        if (text[i] is < (byte)'1' or > (byte)'9') return false;
        ulong v = (ulong)(text[i++] - '0');
        for (; i < text.Length; i++)
        {
            uint digit = (uint)(text[i] - '0');
            if (digit > 9) return false;
            if (v > ulong.MaxValue / 10) return false;
            v *= 10;
            if (v > ulong.MaxValue - digit) return false;
            v += digit;
        }
        if (negative)
        {
            if (v > (ulong)long.MaxValue + 1) return false;
            value = (long)(0 - v);
        }
        else
        {
            if (v > long.MaxValue) return false;
            value = (long)v;
        }
        return true;
    }
}
