using System.Buffers.Text;

namespace Pgrelay.Resp.Protocol;

/// <summary>
/// Parses RESP requests the way Redis 7's processMultibulkBuffer and processInlineBuffer do, with the same checks in
/// the same order and the same error words, so hostile input is answered byte for byte as redis-server answers it.
/// <para>
/// Resumable and linear: a request that arrives in pieces is parsed where the last piece stopped (the position, the
/// arguments read so far, how far a line's end was searched for), and once a bulk's header is read the parser says
/// how many bytes are still missing. The input always starts at the request's first byte; argument slices are
/// offsets from there. Every byte is examined a bounded number of times however the input is split
/// (<see cref="BytesExamined"/> counts them), where a parser restarting on every read costs the square.
/// </para>
/// </summary>
public sealed class RespParser
{
    private enum Kind : byte { None, Inline, Multibulk }

    private Kind _kind;
    private long _remaining;
    private long _bulkLength = -1;
    private int _position;
    private int _scanned;
    private byte[] _error = [];
    private byte _errorByte;

    public RespParser(RespLimits limits) => Limits = limits;

    public RespLimits Limits { get; }

    /// <summary>After <see cref="RespParseResult.Error"/>: the text after "Protocol error: ".</summary>
    public ReadOnlySpan<byte> Error => _error;

    /// <summary>For "expected '$', got 'X'": the byte that was there.</summary>
    public byte ErrorByte => _errorByte;

    /// <summary>Bytes the current bulk still lacks (0 when not inside a bulk).</summary>
    public int MissingBytes { get; private set; }

    /// <summary>Bytes looked at so far (line searches and argument bodies), for proving linearity.</summary>
    public long BytesExamined { get; private set; }

    /// <summary>True while a request has started and is not complete.</summary>
    public bool InProgress => _kind != Kind.None;

    /// <summary>
    /// Parses the request at the start of <paramref name="input"/>. <paramref name="authRequired"/> applies Redis's
    /// pre-authentication caps (10 arguments, 16 KiB per argument).
    /// </summary>
    public RespParseResult Parse(ReadOnlySpan<byte> input, RespRequest request, bool authRequired, out int consumed)
    {
        consumed = 0;
        MissingBytes = 0;
        if (input.IsEmpty) return RespParseResult.Incomplete;
        if (_kind == Kind.None)
        {
            request.Reset();
            _kind = input[0] == (byte)'*' ? Kind.Multibulk : Kind.Inline;
            _position = 0;
            _scanned = 0;
            _remaining = 0;
            _bulkLength = -1;
        }
        var result = _kind == Kind.Inline ? ParseInline(input, request, out consumed) : ParseMultibulk(input, request, authRequired, out consumed);
        if (result != RespParseResult.Incomplete) _kind = Kind.None;
        return result;
    }

    /// <summary>Forgets a partial request (the connection is closing).</summary>
    public void Reset() => _kind = Kind.None;

    private RespParseResult ParseMultibulk(ReadOnlySpan<byte> input, RespRequest request, bool authRequired, out int consumed)
    {
        consumed = 0;
        if (_remaining == 0)
        {
            int cr = FindLineEnd(input, (byte)'\r');
            if (cr < 0)
            {
                if (input.Length > RespLimits.InlineMaxSize) return Fail("too big mbulk count string"u8);
                return RespParseResult.Incomplete;
            }
            if (cr > input.Length - 2) return RespParseResult.Incomplete;   // the byte after \r is not here yet
            if (!RedisNumber.TryParse(input[1..cr], out long count) || count > RespLimits.MaxArguments)
                return Fail("invalid multibulk length"u8);
            if (count > RespLimits.UnauthenticatedMaxArguments && authRequired) return Fail("unauthenticated multibulk length"u8);
            _position = _scanned = cr + 2;   // like Redis, the byte after \r is skipped unchecked
            if (count <= 0)
            {
                consumed = _position;
                return RespParseResult.Empty;
            }
            _remaining = count;
        }
        while (_remaining > 0)
        {
            if (_bulkLength < 0)
            {
                int cr = FindLineEnd(input, (byte)'\r');
                if (cr < 0)
                {
                    if (input.Length - _position > RespLimits.InlineMaxSize) return Fail("too big bulk count string"u8);
                    return RespParseResult.Incomplete;
                }
                if (cr > input.Length - 2) return RespParseResult.Incomplete;
                if (input[_position] != (byte)'$')
                {
                    _errorByte = input[_position];
                    return Fail("expected '$', got '"u8);
                }
                if (!RedisNumber.TryParse(input[(_position + 1)..cr], out long length) || length < 0 || length > Limits.ProtoMaxBulkLength)
                    return Fail("invalid bulk length"u8);
                if (length > RespLimits.UnauthenticatedMaxBulk && authRequired) return Fail("unauthenticated bulk length"u8);
                _position = _scanned = cr + 2;
                _bulkLength = length;
            }
            long available = input.Length - _position;
            if (available < _bulkLength + 2)
            {
                MissingBytes = (int)Math.Min(int.MaxValue, _bulkLength + 2 - available);
                return RespParseResult.Incomplete;
            }
            request.AddSlice(_position, (int)_bulkLength);
            BytesExamined += _bulkLength + 2;
            _position = _scanned = _position + (int)_bulkLength + 2;   // the CRLF after the payload is not checked either
            _bulkLength = -1;
            _remaining--;
        }
        consumed = _position;
        return RespParseResult.Command;
    }

    private RespParseResult ParseInline(ReadOnlySpan<byte> input, RespRequest request, out int consumed)
    {
        consumed = 0;
        int newline = FindLineEnd(input, (byte)'\n');
        if (newline < 0)
        {
            if (input.Length > RespLimits.InlineMaxSize) return Fail("too big inline request"u8);
            return RespParseResult.Incomplete;
        }
        int end = newline > 0 && input[newline - 1] == (byte)'\r' ? newline - 1 : newline;
        if (!InlineArguments.Split(input[..end], request)) return Fail("unbalanced quotes in request"u8);
        consumed = newline + 1;
        return request.Count == 0 ? RespParseResult.Empty : RespParseResult.Command;
    }

    /// <summary>
    /// Redis searches a line's end with strchr, which stops at a NUL byte: a line holding a NUL never ends (until its
    /// length is refused). The search resumes where it stopped, so a header trickled byte by byte costs its length.
    /// </summary>
    private int FindLineEnd(ReadOnlySpan<byte> input, byte terminator)
    {
        int from = Math.Max(_scanned, _position);
        int found = input[from..].IndexOfAny(terminator, (byte)0);
        if (found < 0)
        {
            BytesExamined += input.Length - from;
            _scanned = input.Length;
            return -1;
        }
        BytesExamined += found + 1;
        _scanned = from + found;
        return input[from + found] == 0 ? -1 : from + found;
    }

    private RespParseResult Fail(ReadOnlySpan<byte> message)
    {
        _error = message.ToArray();
        return RespParseResult.Error;
    }

    /// <summary>Writes the whole error line's text ("Protocol error: ..."), for <see cref="RespWriter.WriteError(ReadOnlySpan{byte})"/>.</summary>
    public int FormatError(Span<byte> destination)
    {
        "ERR Protocol error: "u8.CopyTo(destination);
        int at = 20;
        _error.CopyTo(destination[at..]);
        at += _error.Length;
        if (_error.AsSpan().SequenceEqual("expected '$', got '"u8))
        {
            destination[at++] = _errorByte;
            destination[at++] = (byte)'\'';
        }
        return at;
    }
}
