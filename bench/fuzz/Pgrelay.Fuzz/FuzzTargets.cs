using System.Text;
using Pgrelay.Core.Status;
using Pgrelay.Http;
using Pgrelay.Memcached;
using Pgrelay.Memcached.Server;
using Pgrelay.Resp;
using Pgrelay.Resp.Protocol;
using Pgrelay.Resp.Server;
using Pgrelay.Store;
using Pgrelay.Transport;

namespace Pgrelay.Fuzz;

/// <summary>
/// The fuzzing targets. Each takes one input and returns normally for anything a client may send; it throws only for a
/// bug: an unexpected exception, a parser that stops making progress, two readings of the same bytes that disagree.
/// The first byte of an input chooses how the rest arrives: 0 in one read, n in reads of n bytes (1 = a byte at a
/// time), so the fuzzer explores splits as well as contents. afl treats a throw as a crash and a stall as a hang.
/// </summary>
public static class FuzzTargets
{
    public static readonly IReadOnlyDictionary<string, Action<byte[]>> All = new Dictionary<string, Action<byte[]>>
    {
        ["resp"] = RespParser,
        ["resp-session"] = RespSessionTarget,
        ["memcached"] = MemcachedSessionTarget,
        ["http-path"] = HttpPath,
    };

    /// <summary>
    /// Made on first use, inside the fuzzer's run: instrumented code writes coverage into afl's shared memory, which
    /// SharpFuzz maps only once the run starts (a static initializer running earlier would fault).
    /// </summary>
    private static ReplicatedStore Store => _store ??= SampleStore.Create();
    private static ReplicatedStore? _store;

    /// <summary>Splits an input into its arrival pieces (see the class summary).</summary>
    public static IReadOnlyList<ReadOnlyMemory<byte>> Pieces(byte[] input)
    {
        if (input.Length <= 1) return [];
        var payload = input.AsMemory(1);
        int size = input[0] == 0 ? payload.Length : input[0];
        var pieces = new List<ReadOnlyMemory<byte>>();
        for (int at = 0; at < payload.Length; at += size) pieces.Add(payload.Slice(at, Math.Min(size, payload.Length - at)));
        return pieces;
    }

    /// <summary>
    /// The RESP request parser alone, fed as the transport feeds it: the unconsumed bytes grow by each piece and the
    /// parser resumes where it stopped. Every request in the input, read in one piece and in the chosen pieces, must give
    /// the same commands (or the same protocol error), with and without the pre-authentication caps; every command must
    /// consume bytes; and the bytes the parser looks at must stay linear in the bytes received.
    /// </summary>
    public static void RespParser(byte[] input)
    {
        var payload = input.AsMemory(Math.Min(1, input.Length));
        foreach (bool authRequired in (ReadOnlySpan<bool>)[false, true])
        {
            var whole = Parse([payload], authRequired);
            var split = Parse(Pieces(input), authRequired);
            if (whole != split) throw new InvalidOperationException($"split reads parsed differently:\n whole: {whole}\n split: {split}");
        }
    }

    /// <summary>Examined bytes allowed per received byte: a parser restarting on every read would need the input's length.</summary>
    private const int ExaminedPerByte = 8;

    private static unsafe string Parse(IReadOnlyList<ReadOnlyMemory<byte>> pieces, bool authRequired)
    {
        // Small enough for the fuzzer to reach the bulk-length refusal.
        var parser = new RespParser(new RespLimits(4096));
        var request = new RespRequest();
        var seen = new StringBuilder();
        // The receive buffer: what arrived so far, from the first byte not consumed; a request's slices are offsets from there.
        var buffer = new byte[pieces.Sum(p => p.Length)];
        int start = 0, end = 0;
        foreach (var piece in pieces)
        {
            piece.Span.CopyTo(buffer.AsSpan(end));
            end += piece.Length;
            while (end > start)
            {
                var result = parser.Parse(buffer.AsSpan(start, end - start), request, authRequired, out int consumed);
                if (parser.BytesExamined > ExaminedPerByte * end + 64)
                    throw new InvalidOperationException($"the parser examined {parser.BytesExamined} bytes of {end} received");
                if (result == RespParseResult.Incomplete) break;
                if (result == RespParseResult.Error)
                {
                    Span<byte> error = stackalloc byte[256];
                    return seen.Append("error: ").Append(Encoding.UTF8.GetString(error[..parser.FormatError(error)])).ToString();
                }
                if (consumed <= 0) throw new InvalidOperationException($"{result} consumed nothing");
                if (result == RespParseResult.Command)
                {
                    fixed (byte* first = &buffer[start])
                    {
                        request.Bind(first);
                        for (int i = 0; i < request.Count; i++) seen.Append(Convert.ToHexString(request[i])).Append(' ');
                        request.Bind(null);
                    }
                }
                seen.Append(result == RespParseResult.Empty ? "empty\n" : "\n");
                start += consumed;
            }
        }
        return seen.Append("incomplete ").Append(end - start).ToString();
    }

    /// <summary>
    /// A whole Redis connection through the transport's in-process driver (the pump the event loops run: parser,
    /// dispatcher, commands, ACL, MULTI, pub/sub and tracking state, limits). Replies are dropped as they come.
    /// </summary>
    public static void RespSessionTarget(byte[] input)
    {
        var logger = new FailureLogger<RespServer>();
        var options = new RespOptions { ProtoMaxBulkLength = 1024 * 1024, QueryBufferLimit = 1024 * 1024 };
        using var server = new RespServer(Store, new ReplicationStatus { SlotName = "fuzz" }, options, logger);
        Drive(server.Sessions, Pieces(input));
        if (logger.Failure is { } failure) throw new InvalidOperationException("the session failed", failure);
    }

    /// <summary>A whole memcached connection: text and meta commands, and whatever a binary-protocol client sends.</summary>
    public static void MemcachedSessionTarget(byte[] input)
    {
        var server = new MemcachedServer(Store, new MemcachedOptions { RenderCacheBytes = 1024 * 1024 });
        Drive(server.Sessions, Pieces(input));
    }

    /// <summary>
    /// Hands the pieces to a session as reads, until the server side would close; a session's exception surfaces
    /// here (the event loop would log it and close the connection), which afl records as a crash.
    /// </summary>
    private static void Drive(ISessionFactory sessions, IReadOnlyList<ReadOnlyMemory<byte>> pieces)
    {
        using var connection = new InProcessConnection(sessions);
        foreach (var piece in pieces)
        {
            connection.Receive(piece.Span);
            connection.DiscardOutput();   // a reply flood costs no memory here
            if (connection.IsClosed) break;
        }
    }

    /// <summary>
    /// The HTTP row path: /{publication}/{table}/{k1}/{k2}… percent-decoded once into the key's spelling (each segment one
    /// key part, escaped as keys escape parts), then the key looked up the way the row endpoint does. A path rebuilt from
    /// the parsed parts, every byte percent-encoded, must parse to the same publication, table and key.
    /// </summary>
    public static void HttpPath(byte[] input)
    {
        var raw = Encoding.UTF8.GetString(input.AsSpan(Math.Min(1, input.Length)));
        if (!RelayPath.TryParse(raw, out var path)) return;
        var again = $"/{Encode(Encoding.UTF8.GetBytes(path.Publication))}/{PathSegments(Encoding.UTF8.GetBytes(path.Table), (byte)'.')}" +
                    (path.HasKey ? "/" + PathSegments(path.Key, (byte)'/') : "");
        if (!RelayPath.TryParse(again, out var reparsed) || reparsed.Publication != path.Publication || reparsed.Table != path.Table
            || !reparsed.Key.AsSpan().SequenceEqual(path.Key) || reparsed.HasKey != path.HasKey)
            throw new InvalidOperationException($"'{raw}' decodes to a path that does not survive encoding again ('{again}')");
        if (Store.FindPublication(path.Publication)?.FindTable(path.Table) is { } table && path.HasKey && table.TryGet(path.Key, out var row))
            GC.KeepAlive(row);
    }

    /// <summary>Key-spelled pieces joined by <paramref name="separator"/> as URL segments: each piece unescaped (%25 and
    /// the escaped separator), then every byte percent-encoded; a NULL key part stays %FF.</summary>
    private static string PathSegments(byte[] keyText, byte separator)
    {
        var segments = new List<string>();
        foreach (var range in keyText.AsSpan().Split(separator))
        {
            var piece = keyText.AsSpan(range);
            if (separator == (byte)'/' && piece.SequenceEqual("%FF"u8)) { segments.Add("%FF"); continue; }
            var bytes = new List<byte>(piece.Length);
            for (int i = 0; i < piece.Length; i++)
            {
                if (piece[i] == (byte)'%' && i + 2 < piece.Length && char.IsAsciiHexDigit((char)piece[i + 1]) && char.IsAsciiHexDigit((char)piece[i + 2]))
                {
                    bytes.Add(Convert.ToByte(Encoding.ASCII.GetString(piece.Slice(i + 1, 2)), 16));
                    i += 2;
                }
                else
                {
                    bytes.Add(piece[i]);
                }
            }
            segments.Add(Encode([.. bytes]));
        }
        return string.Join((char)separator, segments);
    }

    private static string Encode(byte[] bytes) => string.Concat(bytes.Select(b => "%" + b.ToString("X2")));
}
