namespace Pgrelay.Resp.Protocol;

/// <summary>
/// Redis's sdssplitargs for inline requests (what a person types into telnet): whitespace separates, "double quotes"
/// take C escapes and \xHH, 'single quotes' take \'. A closing quote must be followed by whitespace or the end.
/// </summary>
internal static class InlineArguments
{
    /// <summary>Splits <paramref name="line"/> into the request's arena; false on unbalanced quotes.</summary>
    public static bool Split(ReadOnlySpan<byte> line, RespRequest request)
    {
        int i = 0;
        while (true)
        {
            while (i < line.Length && IsSpace(line[i])) i++;
            if (i >= line.Length) return true;
            // An argument is never longer than the rest of the line: reserve that, trim afterwards.
            var output = request.AddArenaArgument(line.Length - i);
            int written = 0;
            bool inDouble = false, inSingle = false;
            while (true)
            {
                if (inDouble)
                {
                    if (i >= line.Length) return false;
                    byte c = line[i];
                    if (c == '\\' && i + 3 < line.Length && line[i + 1] == 'x' && IsHex(line[i + 2]) && IsHex(line[i + 3]))
                    {
                        output[written++] = (byte)(HexValue(line[i + 2]) * 16 + HexValue(line[i + 3]));
                        i += 3;
                    }
                    else if (c == '\\' && i + 1 < line.Length)
                    {
                        i++;
                        output[written++] = line[i] switch
                        {
                            (byte)'n' => (byte)'\n',
                            (byte)'r' => (byte)'\r',
                            (byte)'t' => (byte)'\t',
                            (byte)'b' => (byte)'\b',
                            (byte)'a' => (byte)'\a',
                            var other => other,
                        };
                    }
                    else if (c == '"')
                    {
                        if (i + 1 < line.Length && !IsSpace(line[i + 1])) return false;
                        i++;
                        break;
                    }
                    else output[written++] = c;
                }
                else if (inSingle)
                {
                    if (i >= line.Length) return false;
                    byte c = line[i];
                    if (c == '\\' && i + 1 < line.Length && line[i + 1] == '\'')
                    {
                        i++;
                        output[written++] = (byte)'\'';
                    }
                    else if (c == '\'')
                    {
                        if (i + 1 < line.Length && !IsSpace(line[i + 1])) return false;
                        i++;
                        break;
                    }
                    else output[written++] = c;
                }
                else
                {
                    if (i >= line.Length) break;
                    byte c = line[i];
                    if (c is (byte)' ' or (byte)'\n' or (byte)'\r' or (byte)'\t' or 0) break;
                    if (c == '"') inDouble = true;
                    else if (c == '\'') inSingle = true;
                    else output[written++] = c;
                }
                i++;
            }
            request.TrimLast(written);
        }
    }

    /// <summary>C's isspace, which sdssplitargs uses to skip between arguments.</summary>
    private static bool IsSpace(byte c) => c is (byte)' ' or (byte)'\n' or (byte)'\r' or (byte)'\t' or (byte)'\v' or (byte)'\f';
    private static bool IsHex(byte c) => char.IsAsciiHexDigit((char)c);
    private static int HexValue(byte c) => c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}
