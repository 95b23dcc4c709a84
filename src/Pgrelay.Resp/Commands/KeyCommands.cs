using System.Buffers;
using Pgrelay.Core.Keys;
using Pgrelay.Resp.Keyspace;
using Pgrelay.Resp.Protocol;
using Pgrelay.Resp.Server;
using Pgrelay.Store.Tables;

namespace Pgrelay.Resp.Commands;

/// <summary>Keyspace commands. Keys never expire here (PostgreSQL decides when a row goes), so TTL is -1 or -2.</summary>
internal static class KeyCommands
{
    /// <summary>SCAN cursors pack the namespace index in the low bits and the table's own cursor above it.</summary>
    private const int NamespaceBits = 20;
    private const ulong NamespaceMask = (1UL << NamespaceBits) - 1;

    public static void Exists(RespSession session, RespRequest request, RespWriter writer)
    {
        long found = 0;
        for (int i = 1; i < request.Count; i++)
            if (session.TryReadRow(request[i], out _)) found++;
        writer.WriteInteger(found);
    }

    public static void Type(RespSession session, RespRequest request, RespWriter writer) =>
        writer.WriteSimple(session.TryReadRow(request[1], out _) ? "hash"u8 : "none"u8);

    public static void DbSize(RespSession session, RespRequest request, RespWriter writer) =>
        writer.WriteInteger(session.Server.Keyspace.KeyCount);

    public static void Ttl(RespSession session, RespRequest request, RespWriter writer) =>
        writer.WriteInteger(session.TryReadRow(request[1], out _) ? -1 : -2);

    public static void Get(RespSession session, RespRequest request, RespWriter writer)
    {
        if (session.TryReadRow(request[1], out _)) writer.WriteError("WRONGTYPE Operation against a key holding the wrong kind of value"u8);
        else writer.WriteNull();
    }

    /// <summary>Like Redis, MGET answers nil for keys that hold something other than a string.</summary>
    public static void MGet(RespSession session, RespRequest request, RespWriter writer)
    {
        writer.WriteArrayHeader(request.Count - 1);
        for (int i = 1; i < request.Count; i++) writer.WriteNull();
    }

    public static void Keys(RespSession session, RespRequest request, RespWriter writer)
    {
        var pattern = request[1];
        bool all = GlobPattern.MatchesAll(pattern);
        var keys = new KeyBuffer();
        var lengths = new List<int>();
        using var pin = session.Store.Pin();
        foreach (var ns in session.Server.Keyspace.Current)
            foreach (var row in ns.Table.Rows(pin))
                Collect(ns, row, pattern, all, keys, lengths);
        WriteKeys(writer, keys.Written, lengths);
    }

    public static void Scan(RespSession session, RespRequest request, RespWriter writer)
    {
        if (!ScanOptions.TryParseCursor(request[1], out ulong cursor))
        {
            writer.WriteError("ERR invalid cursor"u8);
            return;
        }
        if (!ScanOptions.TryParse(request, 2, allowType: true, allowNoValues: false, writer, out var options)) return;
        var namespaces = session.Server.Keyspace.Current;
        var keys = new KeyBuffer();
        var lengths = new List<int>();
        int index = (int)(cursor & NamespaceMask);
        ulong tableCursor = cursor >> NamespaceBits;
        // Every key is a hash: TYPE hash filters nothing, any other type everything.
        bool typeExcludesAll = options.HasType && !RespRequest.AsciiEquals(options.Type, "hash"u8);
        var rows = new List<RowRef>(options.Count);
        int visited = 0;
        using (var pin = session.Store.Pin())
        {
            while (index < namespaces.Length && visited < options.Count)
            {
                rows.Clear();
                tableCursor = namespaces[index].Table.Scan(tableCursor, options.Count - visited, pin, rows);
                visited += rows.Count;
                if (!typeExcludesAll)
                    foreach (var row in rows) Collect(namespaces[index], row, options.Match, !options.HasMatch, keys, lengths);
                if (tableCursor == 0) index++;
            }
        }
        ulong next = index >= namespaces.Length ? 0 : (tableCursor << NamespaceBits) | (uint)index;
        writer.WriteArrayHeader(2);
        writer.WriteBulk(next);
        WriteKeys(writer, keys.Written, lengths);
    }

    /// <summary>Appends the row's full key to <paramref name="keys"/> when it matches; a rejected key is dropped by
    /// rolling the writer back to where it started.</summary>
    private static void Collect(KeyNamespace ns, in RowRef row, ReadOnlySpan<byte> pattern, bool all, KeyBuffer keys, List<int> lengths)
    {
        int start = keys.Length;
        CacheKey.WriteFullKey(ns.Publication.Utf8Name, row.View, row.Schema, keys);
        int length = keys.Length - start;
        if (all || GlobPattern.IsMatch(pattern, keys.Written.Slice(start, length))) lengths.Add(length);
        else keys.Truncate(start);
    }

    private static void WriteKeys(RespWriter writer, ReadOnlySpan<byte> keys, List<int> lengths)
    {
        writer.WriteArrayHeader(lengths.Count);
        int at = 0;
        foreach (int length in lengths)
        {
            writer.WriteBulk(keys.Slice(at, length));
            at += length;
        }
    }

    public static void Memory(RespSession session, RespRequest request, RespWriter writer)
    {
        if (request.Is(1, "usage"u8))
        {
            if (request.Count != 3 && !(request.Count == 5 && request.Is(3, "samples"u8)))
            {
                writer.WriteError(request.Count < 3 ? "ERR wrong number of arguments for 'memory|usage' command"u8 : "ERR syntax error"u8);
                return;
            }
            if (session.TryReadRow(request[2], out var row)) writer.WriteInteger(RowReplies.MemoryUsage(row));
            else writer.WriteNull();
        }
        else if (request.Is(1, "doctor"u8))
        {
            writer.WriteBulk("Sam, I have no memory problems: rows live in pgrelay's store, sized by the tables you publish.");
        }
        else if (request.Is(1, "stats"u8))
        {
            var store = session.Store;
            writer.WriteMapHeader(4);
            writer.WriteBulk("dataset.bytes"u8);
            writer.WriteInteger(store.TotalMemoryBytes);
            writer.WriteBulk("keys.count"u8);
            writer.WriteInteger(session.Server.Keyspace.KeyCount);
            writer.WriteBulk("total.allocated"u8);
            writer.WriteInteger(GC.GetTotalMemory(false));
            writer.WriteBulk("clients.normal"u8);
            writer.WriteInteger(session.Server.Clients.Count);
        }
        else if (request.Is(1, "purge"u8))
        {
            writer.WriteOk();
        }
        else if (request.Is(1, "help"u8))
        {
            WriteHelp(writer, ["MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "DOCTOR", "    Return memory problems reports.", "STATS", "    Return information about the memory usage of the server.",
                "USAGE <key> [SAMPLES <count>]", "    Return memory in bytes used by <key> and its value.", "PURGE", "    Does nothing here.",
                "HELP", "    Print this help."]);
        }
        else
        {
            writer.WriteError($"ERR unknown subcommand '{request.ArgString(1)}'. Try MEMORY HELP.");
        }
    }

    public static void WriteHelp(RespWriter writer, string[] lines)
    {
        writer.WriteArrayHeader(lines.Length);
        foreach (var line in lines) writer.WriteSimple(System.Text.Encoding.UTF8.GetBytes(line));
    }
}
