using System.Buffers;

namespace Pgrelay.Core.Rendering;

/// <summary>
/// Turns PostgreSQL's ISO DateStyle output into ISO 8601: "2024-01-31 12:00:00.5+05:30" becomes
/// "2024-01-31T12:00:00.5+05:30", and an hour-only offset "+00" gains its minutes. What ISO 8601 cannot
/// say the same way (infinity, BC dates, years past 9999) stays the string PostgreSQL printed, so
/// nothing is lost or invented.
/// </summary>
public static class DateTimeRenderer
{
    private const int DateLength = 10;   // YYYY-MM-DD

    public static void WriteTimestamp(ReadOnlySpan<byte> text, IBufferWriter<byte> output)
    {
        int n = DateTimeLength(text);
        if (n != text.Length)
        {
            JsonStringWriter.Write(text, output);
            return;
        }
        var span = output.GetSpan(text.Length + 2);
        output.Advance(WriteIsoDateTime(text, span));
    }

    public static void WriteTimestampTz(ReadOnlySpan<byte> text, IBufferWriter<byte> output)
    {
        int n = DateTimeLength(text);
        if (n < 0 || !UtcOffset.TryParse(text[n..], out var offset))
        {
            JsonStringWriter.Write(text, output);
            return;
        }
        if (offset.Seconds != 0)
        {
            // Historic local-mean-time offsets have seconds, which ISO 8601 offsets cannot hold:
            // the same instant is written in UTC instead.
            WriteInUtc(text, n, offset, output);
            return;
        }
        var span = output.GetSpan(n + 9);
        int at = WriteIsoDateTime(text[..n], span);
        at -= 1;   // reopen the string to append the offset
        at += offset.WriteHoursMinutes(span[at..]);
        span[at++] = (byte)'"';
        output.Advance(at);
    }

    public static void WriteTimeTz(ReadOnlySpan<byte> text, IBufferWriter<byte> output)
    {
        int n = TimeLength(text);
        if (n < 0 || !UtcOffset.TryParse(text[n..], out var offset) || offset.Seconds != 0)
        {
            JsonStringWriter.Write(text, output);   // a seconds offset cannot move a bare time: keep it as printed
            return;
        }
        var span = output.GetSpan(n + 9);
        span[0] = (byte)'"';
        text[..n].CopyTo(span[1..]);
        int at = 1 + n;
        at += offset.WriteHoursMinutes(span[at..]);
        span[at++] = (byte)'"';
        output.Advance(at);
    }

    /// <summary>Writes '"' date 'T' time '"'; returns bytes written.</summary>
    private static int WriteIsoDateTime(ReadOnlySpan<byte> dateTime, Span<byte> span)
    {
        span[0] = (byte)'"';
        dateTime.CopyTo(span[1..]);
        span[1 + DateLength] = (byte)'T';
        span[1 + dateTime.Length] = (byte)'"';
        return dateTime.Length + 2;
    }

    private static void WriteInUtc(ReadOnlySpan<byte> text, int dateTimeLength, UtcOffset offset, IBufferWriter<byte> output)
    {
        var dateTime = text[..dateTimeLength];
        int year = Number(dateTime, 0, 4), month = Number(dateTime, 5, 2), day = Number(dateTime, 8, 2);
        int hour = Number(dateTime, 11, 2), minute = Number(dateTime, 14, 2), second = Number(dateTime, 17, 2);
        if (year < 1 || month is < 1 or > 12 || day < 1 || day > DateTime.DaysInMonth(year, month) ||
            hour > 23 || minute > 59 || second > 59)
        {
            JsonStringWriter.Write(text, output);
            return;
        }
        var local = new DateTime(year, month, day, hour, minute, second, DateTimeKind.Unspecified);
        var utc = local.AddSeconds(-offset.TotalSeconds);
        if (utc.Year is < 1 or > 9999)
        {
            JsonStringWriter.Write(text, output);
            return;
        }
        var fraction = dateTime[19..];   // ".ffffff" or empty: unaffected by a whole-second shift
        var span = output.GetSpan(19 + fraction.Length + 8);
        span[0] = (byte)'"';
        WriteDigits(span[1..], utc.Year, 4);
        span[5] = (byte)'-';
        WriteDigits(span[6..], utc.Month, 2);
        span[8] = (byte)'-';
        WriteDigits(span[9..], utc.Day, 2);
        span[11] = (byte)'T';
        WriteDigits(span[12..], utc.Hour, 2);
        span[14] = (byte)':';
        WriteDigits(span[15..], utc.Minute, 2);
        span[17] = (byte)':';
        WriteDigits(span[18..], utc.Second, 2);
        fraction.CopyTo(span[20..]);
        int at = 20 + fraction.Length;
        "+00:00\""u8.CopyTo(span[at..]);
        output.Advance(at + 7);
    }

    /// <summary>Length of "YYYY-MM-DD HH:MM:SS[.f+]" at the start of <paramref name="s"/>, or -1.</summary>
    internal static int DateTimeLength(ReadOnlySpan<byte> s)
    {
        if (s.Length < 19 || !IsDigits(s, 0, 4) || s[4] != '-' || !IsDigits(s, 5, 2) || s[7] != '-' ||
            !IsDigits(s, 8, 2) || s[10] != ' ')
            return -1;
        int time = TimeLength(s[11..]);
        return time < 0 ? -1 : 11 + time;
    }

    /// <summary>Length of "HH:MM:SS[.f+]" at the start of <paramref name="s"/>, or -1.</summary>
    internal static int TimeLength(ReadOnlySpan<byte> s)
    {
        if (s.Length < 8 || !IsDigits(s, 0, 2) || s[2] != ':' || !IsDigits(s, 3, 2) || s[5] != ':' || !IsDigits(s, 6, 2))
            return -1;
        int i = 8;
        if (i < s.Length && s[i] == '.')
        {
            int start = ++i;
            while (i < s.Length && (uint)(s[i] - '0') <= 9) i++;
            if (i == start) return -1;
        }
        return i;
    }

    internal static bool IsDigits(ReadOnlySpan<byte> s, int start, int count)
    {
        if (s.Length < start + count) return false;
        for (int i = start; i < start + count; i++)
            if ((uint)(s[i] - '0') > 9) return false;
        return true;
    }

    internal static int Number(ReadOnlySpan<byte> s, int start, int count)
    {
        int value = 0;
        for (int i = start; i < start + count; i++) value = value * 10 + (s[i] - '0');
        return value;
    }

    private static void WriteDigits(Span<byte> span, int value, int count)
    {
        for (int i = count - 1; i >= 0; i--, value /= 10) span[i] = (byte)('0' + value % 10);
    }
}
