using System.Buffers;
using System.Net;
using System.Text;
using Pgrelay.Core.Status;
using Pgrelay.Http;
using Pgrelay.Memcached;
using Pgrelay.Memcached.Server;
using Pgrelay.Resp;
using Pgrelay.Resp.Protocol;
using Pgrelay.Resp.Server;
using Pgrelay.Store;

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
    /// The RESP request parser alone: every request in the input, read in one piece and in the chosen pieces, must give
    /// the same commands (or the same protocol error), and every command must consume bytes.
    /// </summary>
    public static void RespParser(byte[] input)
    {
        var pieces = Pieces(input);
        var whole = Parse(new ReadOnlySequence<byte>(input.AsMemory(Math.Min(1, input.Length))));
        var split = Parse(Segments.Of(pieces));
        if (whole != split) throw new InvalidOperationException($"split reads parsed differently:\n whole: {whole}\n split: {split}");
    }

    private static string Parse(ReadOnlySequence<byte> buffer)
    {
        var limits = new RespOptions { MaxBulkLength = 4096, MaxArguments = 64, MaxInlineLength = 1024 }.Limits;
        var request = new RespRequest();
        var seen = new StringBuilder();
        while (true)
        {
            long before = buffer.Length;
            RespReader.Result result;
            try
            {
                result = RespReader.TryParse(ref buffer, request, limits);
            }
            catch (RespProtocolException e)
            {
                return seen.Append("error: ").Append(e.Message).ToString();
            }
            if (result == RespReader.Result.Incomplete) return seen.Append("incomplete ").Append(buffer.Length).ToString();
            if (buffer.Length >= before) throw new InvalidOperationException($"{result} consumed nothing");
            for (int i = 0; i < request.Count; i++) seen.Append(Convert.ToHexString(request[i])).Append(' ');
            seen.Append('\n');
        }
    }

    /// <summary>A whole Redis connection: reader, dispatcher, commands, ACL, MULTI, pub/sub and tracking state.</summary>
    public static void RespSessionTarget(byte[] input)
    {
        var logger = new FailureLogger<RespServer>();
        var options = new RespOptions { MaxBulkLength = 64 * 1024, MaxArguments = 1024, MaxInlineLength = 4096, PubSubOutputLimitBytes = 1024 * 1024 };
        using var server = new RespServer(Store, new ReplicationStatus { SlotName = "fuzz" }, options, logger);
        var handler = new RespConnectionHandler(server);
        InMemoryConnection.RunAsync(c => { c.RemoteEndPoint = new IPEndPoint(IPAddress.Loopback, 1); return handler.OnConnectedAsync(c); }, Pieces(input))
            .GetAwaiter().GetResult();
        if (logger.Failure is { } failure) throw new InvalidOperationException("the session failed", failure);
    }

    /// <summary>A whole memcached connection: text and meta commands, and whatever a binary-protocol client sends.</summary>
    public static void MemcachedSessionTarget(byte[] input)
    {
        var logger = new FailureLogger<MemcachedConnectionHandler>();
        var server = new MemcachedServer(Store, new MemcachedOptions { RenderCacheBytes = 1024 * 1024 });
        var handler = new MemcachedConnectionHandler(server, logger);
        InMemoryConnection.RunAsync(handler.OnConnectedAsync, Pieces(input)).GetAwaiter().GetResult();
        if (logger.Failure is { } failure) throw new InvalidOperationException("the session failed", failure);
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
