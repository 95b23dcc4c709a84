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
        row.WriteFullKey(ns.Publication.Utf8KeyName, keys);
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

    /// <summary>RANDOMKEY: a table chosen in proportion to its rows, then the row at a random SCAN position in it.</summary>
    public static void RandomKey(RespSession session, RespRequest request, RespWriter writer)
    {
        var namespaces = session.Server.Keyspace.Current;
        long total = 0;
        foreach (var ns in namespaces) total += ns.Table.RowCount;
        if (total == 0)
        {
            writer.WriteNull();
            return;
        }
        long pick = Random.Shared.NextInt64(total);
        var chosen = namespaces[^1];
        foreach (var ns in namespaces)
        {
            if (pick < ns.Table.RowCount) { chosen = ns; break; }
            pick -= ns.Table.RowCount;
        }
        var rows = new List<RowRef>(1);
        using (var pin = session.Store.Pin())
        {
            ulong next = chosen.Table.Scan((ulong)Random.Shared.NextInt64(), 1, pin, rows);
            // From a random position the scan may run off the end of the table: then start from its beginning.
            if (rows.Count == 0 && next == 0) chosen.Table.Scan(0, 1, pin, rows);
        }
        if (rows.Count == 0)
        {
            writer.WriteNull();
            return;
        }
        var key = new ArrayBufferWriter<byte>(64);
        rows[0].WriteFullKey(chosen.Publication.Utf8KeyName, key);
        writer.WriteBulk(key.WrittenSpan);
    }

    /// <summary>
    /// OBJECT: rows are hashes; ENCODING reports what Redis would use for a hash of that shape (listpack while it has
    /// at most 128 fields of at most 64 bytes, hashtable beyond), so tools that inspect encodings see familiar answers.
    /// </summary>
    public static void Object(RespSession session, RespRequest request, RespWriter writer)
    {
        if (request.Is(1, "help"u8))
        {
            WriteHelp(writer, ["OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "ENCODING <key>", "    Return the kind of internal representation used in order to store the value", "    associated with a <key>.",
                "FREQ <key>", "    Return the access frequency index of the <key>. The returned integer is", "    proportional to the logarithm of the recent access frequency of the key.",
                "IDLETIME <key>", "    Return the idle time of the <key>, that is the approximated number of", "    seconds elapsed since the last access to the key.",
                "REFCOUNT <key>", "    Return the number of references of the value associated with the specified", "    <key>.",
                "HELP", "    Print this help."]);
            return;
        }
        if (!session.TryReadRow(request[2], out var row))
        {
            writer.WriteNull();
            return;
        }
        if (request.Is(1, "encoding"u8)) writer.WriteBulk(IsSmallHash(row) ? "listpack"u8 : "hashtable"u8);
        else if (request.Is(1, "refcount"u8)) writer.WriteInteger(1);
        else if (request.Is(1, "idletime"u8)) writer.WriteInteger(0);
        else writer.WriteError("ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust."u8);
    }

    private static bool IsSmallHash(in RowRef row)
    {
        if (RowReplies.FieldCount(row) > 128) return false;
        var view = row.View;
        var columns = row.Schema.Columns;
        int n = Math.Min(view.ColumnCount, columns.Count);
        for (int c = 0; c < n; c++)
            if (RowReplies.HasField(row, c) && (view.Value(c).Length > 64 || columns[c].Utf8Name.Length > 64)) return false;
        return true;
    }

    public static void WriteHelp(RespWriter writer, string[] lines)
    {
        writer.WriteArrayHeader(lines.Length);
        foreach (var line in lines) writer.WriteSimple(System.Text.Encoding.UTF8.GetBytes(line));
    }
}
