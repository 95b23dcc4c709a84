using System.Buffers.Text;
using Pgrelay.Resp.Protocol;

namespace Pgrelay.Resp.Commands;

/// <summary>The MATCH / COUNT / TYPE / NOVALUES options SCAN and HSCAN take after the cursor.</summary>
internal ref struct ScanOptions
{
    public ReadOnlySpan<byte> Match;
    public bool HasMatch;
    public int Count;
    public ReadOnlySpan<byte> Type;
    public bool HasType;
    public bool NoValues;

    /// <summary>Parses options from argument <paramref name="start"/>; on failure writes Redis's error and returns false.</summary>
    public static bool TryParse(RespRequest request, int start, bool allowType, bool allowNoValues, RespWriter writer, out ScanOptions options)
    {
        options = default;
        options.Count = 10;
        for (int i = start; i < request.Count; i++)
        {
            bool hasValue = i + 1 < request.Count;
            if (request.Is(i, "match"u8) && hasValue)
            {
                options.Match = request[++i];
                options.HasMatch = !Keyspace.GlobPattern.MatchesAll(options.Match);
            }
            else if (request.Is(i, "count"u8) && hasValue)
            {
                if (!TryParseInteger(request[++i], out long count))
                {
                    writer.WriteError("ERR value is not an integer or out of range"u8);
                    return false;
                }
                if (count < 1)
                {
                    writer.WriteError("ERR syntax error"u8);
                    return false;
                }
                options.Count = (int)Math.Min(count, 100_000);
            }
            else if (allowType && request.Is(i, "type"u8) && hasValue)
            {
                options.Type = request[++i];
                options.HasType = true;
            }
            else if (allowNoValues && request.Is(i, "novalues"u8))
            {
                options.NoValues = true;
            }
            else
            {
                writer.WriteError("ERR syntax error"u8);
                return false;
            }
        }
        return true;
    }

    public static bool TryParseInteger(ReadOnlySpan<byte> text, out long value) =>
        Utf8Parser.TryParse(text, out value, out int consumed) && consumed == text.Length && text.Length > 0;

    public static bool TryParseCursor(ReadOnlySpan<byte> text, out ulong value) =>
        Utf8Parser.TryParse(text, out value, out int consumed) && consumed == text.Length && text.Length > 0;
}
