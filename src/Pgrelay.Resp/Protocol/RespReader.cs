using System.Buffers;
using System.Buffers.Text;

namespace Pgrelay.Resp.Protocol;

/// <summary>
/// Parses RESP2 requests: multibulk arrays of bulk strings (what every client library sends) and inline
/// commands (what a person types into telnet). Error texts are Redis's own, so tools that match on them
/// keep working. Arguments are copied into the request's arena only once the whole command is buffered.
/// </summary>
public static class RespReader
{
    public enum Result { Incomplete, Command, Empty }

    /// <summary>
    /// Tries to parse one command from the start of <paramref name="buffer"/>. On <see cref="Result.Command"/>
    /// and <see cref="Result.Empty"/> (a blank line or a zero-length array) the buffer is advanced past it.
    /// Throws <see cref="RespProtocolException"/> on malformed input.
    /// </summary>
    public static Result TryParse(ref ReadOnlySequence<byte> buffer, RespRequest request, in RespLimits limits)
    {
        if (buffer.IsEmpty) return Result.Incomplete;
        var reader = new SequenceReader<byte>(buffer);
        request.Reset();
        reader.TryPeek(out byte first);
        var result = first == (byte)'*'
            ? ParseMultibulk(ref reader, request, limits)
            : ParseInline(ref reader, request, limits);
        if (result != Result.Incomplete) buffer = buffer.Slice(reader.Position);
        return result;
    }

    private static Result ParseMultibulk(ref SequenceReader<byte> reader, RespRequest request, in RespLimits limits)
    {
        reader.Advance(1);
        if (!TryReadLine(ref reader, out long count, limits.MaxInlineLength, "too big mbulk count string", "invalid multibulk length"))
            return Result.Incomplete;
        if (count > limits.MaxArguments) throw new RespProtocolException("invalid multibulk length");
        if (count <= 0) return Result.Empty;
        for (long i = 0; i < count; i++)
        {
            if (!reader.TryRead(out byte marker)) return Result.Incomplete;
            if (marker != (byte)'$')
                throw new RespProtocolException($"expected '$', got '{(char)marker}'");
            if (!TryReadLine(ref reader, out long length, limits.MaxInlineLength, "too big bulk count string", "invalid bulk length"))
                return Result.Incomplete;
            if (length < 0 || length > limits.MaxBulkLength) throw new RespProtocolException("invalid bulk length");
            if (reader.Remaining < length + 2) return Result.Incomplete;
            var destination = request.AddArgument((int)length);
            reader.TryCopyTo(destination);
            // Like Redis, the two bytes after the payload are taken as the CRLF without checking them.
            reader.Advance(length + 2);
        }
        return Result.Command;
    }

    /// <summary>Reads a decimal line ending in CRLF (Redis accepts only CRLF here).</summary>
    private static bool TryReadLine(ref SequenceReader<byte> reader, out long value, int maxLine, string tooBig, string invalid)
    {
        value = 0;
        if (!reader.TryReadTo(out ReadOnlySpan<byte> line, "\r\n"u8, advancePastDelimiter: true))
        {
            if (reader.Remaining > maxLine) throw new RespProtocolException(tooBig);
            return false;
        }
        if (line.Length == 0 || line.Length > 20 || !Utf8Parser.TryParse(line, out value, out int consumed) || consumed != line.Length)
            throw new RespProtocolException(invalid);
        return true;
    }

    private static Result ParseInline(ref SequenceReader<byte> reader, RespRequest request, in RespLimits limits)
    {
        if (!reader.TryReadTo(out ReadOnlySpan<byte> line, (byte)'\n', advancePastDelimiter: true))
        {
            if (reader.Remaining > limits.MaxInlineLength) throw new RespProtocolException("too big inline request");
            return Result.Incomplete;
        }
        if (line.Length > limits.MaxInlineLength) throw new RespProtocolException("too big inline request");
        if (!line.IsEmpty && line[^1] == (byte)'\r') line = line[..^1];
        SplitArguments(line, request, limits);
        return request.Count == 0 ? Result.Empty : Result.Command;
    }

    /// <summary>Redis's sdssplitargs: whitespace separates, "double quotes" take C escapes, 'single quotes' take \'.</summary>
    private static void SplitArguments(ReadOnlySpan<byte> line, RespRequest request, in RespLimits limits)
    {
        int i = 0;
        while (true)
        {
            while (i < line.Length && IsSpace(line[i])) i++;
            if (i >= line.Length) return;
            if (request.Count >= limits.MaxArguments) throw new RespProtocolException("invalid multibulk length");
            // An argument is never longer than the rest of the line, so reserve that and trim afterwards.
            var output = request.AddArgument(line.Length - i);
            int written = 0;
            bool inDouble = false, inSingle = false;
            while (true)
            {
                if (inDouble)
                {
                    if (i >= line.Length) throw new RespProtocolException("unbalanced quotes in request");
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
                        // A closing quote must be followed by a space or the end.
                        if (i + 1 < line.Length && !IsSpace(line[i + 1])) throw new RespProtocolException("unbalanced quotes in request");
                        i++;
                        break;
                    }
                    else output[written++] = c;
                }
                else if (inSingle)
                {
                    if (i >= line.Length) throw new RespProtocolException("unbalanced quotes in request");
                    byte c = line[i];
                    if (c == '\\' && i + 1 < line.Length && line[i + 1] == '\'')
                    {
                        i++;
                        output[written++] = (byte)'\'';
                    }
                    else if (c == '\'')
                    {
                        if (i + 1 < line.Length && !IsSpace(line[i + 1])) throw new RespProtocolException("unbalanced quotes in request");
                        i++;
                        break;
                    }
                    else output[written++] = c;
                }
                else
                {
                    if (i >= line.Length) break;
                    byte c = line[i];
                    if (IsSpace(c)) break;
                    if (c == '"') inDouble = true;
                    else if (c == '\'') inSingle = true;
                    else output[written++] = c;
                }
                i++;
            }
            request.TrimLast(written);
        }
    }

    private static bool IsSpace(byte c) => c is (byte)' ' or (byte)'\n' or (byte)'\r' or (byte)'\t' or (byte)'\v' or (byte)'\f' or 0;
    private static bool IsHex(byte c) => char.IsAsciiHexDigit((char)c);
    private static int HexValue(byte c) => c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}
