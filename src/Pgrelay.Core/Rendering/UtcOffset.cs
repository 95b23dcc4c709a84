namespace Pgrelay.Core.Rendering;

/// <summary>A UTC offset as PostgreSQL prints it: "+HH", "+HH:MM" or "+HH:MM:SS".</summary>
internal readonly record struct UtcOffset(bool Negative, int Hours, int Minutes, int Seconds)
{
    /// <summary>Parses an offset that must make up the whole of <paramref name="s"/>.</summary>
    public static bool TryParse(ReadOnlySpan<byte> s, out UtcOffset offset)
    {
        offset = default;
        if (s.Length is not (3 or 6 or 9) || (s[0] != '+' && s[0] != '-') || !DateTimeRenderer.IsDigits(s, 1, 2))
            return false;
        int minutes = 0, seconds = 0;
        if (s.Length >= 6)
        {
            if (s[3] != ':' || !DateTimeRenderer.IsDigits(s, 4, 2)) return false;
            minutes = DateTimeRenderer.Number(s, 4, 2);
        }
        if (s.Length == 9)
        {
            if (s[6] != ':' || !DateTimeRenderer.IsDigits(s, 7, 2)) return false;
            seconds = DateTimeRenderer.Number(s, 7, 2);
        }
        offset = new UtcOffset(s[0] == '-', DateTimeRenderer.Number(s, 1, 2), minutes, seconds);
        return true;
    }

    /// <summary>Writes "+HH:MM", or "+HH:MM:SS" when there are seconds (PostgreSQL's XSD style); returns bytes written.</summary>
    public int WriteXsd(Span<byte> span)
    {
        span[0] = Negative ? (byte)'-' : (byte)'+';
        span[1] = (byte)('0' + Hours / 10);
        span[2] = (byte)('0' + Hours % 10);
        span[3] = (byte)':';
        span[4] = (byte)('0' + Minutes / 10);
        span[5] = (byte)('0' + Minutes % 10);
        if (Seconds == 0) return 6;
        span[6] = (byte)':';
        span[7] = (byte)('0' + Seconds / 10);
        span[8] = (byte)('0' + Seconds % 10);
        return 9;
    }
}
