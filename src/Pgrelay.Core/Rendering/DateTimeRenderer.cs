using System.Buffers;

namespace Pgrelay.Core.Rendering;

/// <summary>
/// Writes timestamp and timestamptz the way PostgreSQL's own <c>to_json</c> does (its XSD style, json.c): PostgreSQL's
/// ISO DateStyle output "2024-01-31 12:00:00.5+05:30" becomes "2024-01-31T12:00:00.5+05:30"; an offset always has its
/// minutes ("+00" becomes "+00:00") and keeps its seconds when it has any; years keep all their digits ("12345-06-07T…")
/// and a BC year keeps its suffix ("0044-03-15T12:00:00+00:00 BC"). infinity and -infinity, and anything that does not
/// look like ISO output, stay the string PostgreSQL printed. Dates, times and times with zone need nothing: to_json
/// writes their output text as a string.
/// </summary>
public static class DateTimeRenderer
{
    private static ReadOnlySpan<byte> Bc => " BC"u8;

    public static void WriteTimestamp(ReadOnlySpan<byte> text, IBufferWriter<byte> output)
    {
        var body = WithoutEra(text, out var era);
        int date = DateLength(body);
        if (date < 0 || DateTimeLength(body, date) != body.Length)
        {
            JsonStringWriter.Write(text, output);
            return;
        }
        var span = output.GetSpan(text.Length + 2);
        int at = WriteIsoDateTime(body, date, span);
        era.CopyTo(span[at..]);
        at += era.Length;
        span[at++] = (byte)'"';
        output.Advance(at);
    }

    public static void WriteTimestampTz(ReadOnlySpan<byte> text, IBufferWriter<byte> output)
    {
        var body = WithoutEra(text, out var era);
        int date = DateLength(body);
        int n = date < 0 ? -1 : DateTimeLength(body, date);
        if (n < 0 || !UtcOffset.TryParse(body[n..], out var offset))
        {
            JsonStringWriter.Write(text, output);
            return;
        }
        var span = output.GetSpan(n + 12 + era.Length);
        int at = WriteIsoDateTime(body[..n], date, span);
        at += offset.WriteXsd(span[at..]);
        era.CopyTo(span[at..]);
        at += era.Length;
        span[at++] = (byte)'"';
        output.Advance(at);
    }

    /// <summary>Splits off a trailing " BC"; <paramref name="era"/> is it, or empty.</summary>
    private static ReadOnlySpan<byte> WithoutEra(ReadOnlySpan<byte> text, out ReadOnlySpan<byte> era)
    {
        bool bc = text.EndsWith(Bc);
        era = bc ? text[^Bc.Length..] : default;
        return bc ? text[..^Bc.Length] : text;
    }

    /// <summary>Writes '"' date 'T' time, without the closing quote; returns bytes written.</summary>
    private static int WriteIsoDateTime(ReadOnlySpan<byte> dateTime, int dateLength, Span<byte> span)
    {
        span[0] = (byte)'"';
        dateTime.CopyTo(span[1..]);
        span[1 + dateLength] = (byte)'T';
        return dateTime.Length + 1;
    }

    /// <summary>Length of "Y…Y-MM-DD" (four or more year digits) followed by a space at the start of <paramref name="s"/>, or -1.</summary>
    internal static int DateLength(ReadOnlySpan<byte> s)
    {
        int year = 0;
        while (year < s.Length && (uint)(s[year] - '0') <= 9) year++;
        if (year < 4 || s.Length < year + 7 || s[year] != '-' || !IsDigits(s, year + 1, 2) || s[year + 3] != '-' ||
            !IsDigits(s, year + 4, 2) || s[year + 6] != ' ')
            return -1;
        return year + 6;
    }

    /// <summary>Length of the date (<paramref name="dateLength"/> bytes), a space and "HH:MM:SS[.f+]", or -1.</summary>
    internal static int DateTimeLength(ReadOnlySpan<byte> s, int dateLength)
    {
        int time = TimeLength(s[(dateLength + 1)..]);
        return time < 0 ? -1 : dateLength + 1 + time;
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
}
