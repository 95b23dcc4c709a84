using System.Net;
using Pgrelay.Core.Keys;
using Pgrelay.Memcached.Protocol;

namespace Pgrelay.Memcached.Server;

/// <summary>
/// <c>stats</c> and its sub-commands. Cold paths: these may allocate. Field names are memcached's, so
/// memcstat, monitoring agents and dashboards read them unchanged; pgrelay's own fields start with <c>pgrelay_</c>.
/// </summary>
internal sealed partial class MemcachedSession
{
    /// <summary>memcached stops a cachedump at 2 MB of output; so does pgrelay.</summary>
    private const int CachedumpLimitBytes = 2 * 1024 * 1024;

    private Step Stats(ref LineTokens tokens)
    {
        _counts.FlushTo(_server.Stats);   // this connection's own requests count too
        if (!tokens.Next(out var sub)) return GeneralStats();
        if (sub.SequenceEqual("settings"u8)) return SettingsStats();
        if (sub.SequenceEqual("items"u8)) return ItemStats();
        if (sub.SequenceEqual("slabs"u8)) return Reply("STAT active_slabs 0\r\nSTAT total_malloced 0\r\nEND\r\n"u8);
        if (sub.SequenceEqual("cachedump"u8)) return Cachedump(ref tokens);
        if (sub.SequenceEqual("reset"u8))
        {
            _server.Stats.Reset();
            return Reply(Replies.Reset);
        }
        return Reply(Replies.Error);
    }

    private Step GeneralStats()
    {
        WriteGeneralStats(_out);
        return Step.Continue;
    }

    private void WriteGeneralStats(ResponseWriter _out)
    {
        var s = _server.Stats;
        var process = System.Diagnostics.Process.GetCurrentProcess();
        _out.Stat("pid"u8, Environment.ProcessId);
        _out.Stat("uptime"u8, (long)_server.Uptime.TotalSeconds);
        _out.Stat("time"u8, DateTimeOffset.UtcNow.ToUnixTimeSeconds());
        _out.Stat("version"u8, _server.Utf8Version);
        _out.Stat("pointer_size"u8, IntPtr.Size * 8);
        _out.Stat("rusage_user"u8, Rusage(process.UserProcessorTime));
        _out.Stat("rusage_system"u8, Rusage(process.PrivilegedProcessorTime));
        _out.Stat("max_connections"u8, _options.MaxConnections);
        _out.Stat("curr_connections"u8, Interlocked.Read(ref s.CurrentConnections));
        _out.Stat("total_connections"u8, Interlocked.Read(ref s.TotalConnections));
        _out.Stat("rejected_connections"u8, Interlocked.Read(ref s.RejectedConnections));
        _out.Stat("connection_structures"u8, Interlocked.Read(ref s.CurrentConnections));
        _out.Stat("cmd_get"u8, Interlocked.Read(ref s.CmdGet));
        _out.Stat("cmd_set"u8, Interlocked.Read(ref s.CmdSet));
        _out.Stat("cmd_flush"u8, Interlocked.Read(ref s.CmdFlush));
        _out.Stat("cmd_touch"u8, Interlocked.Read(ref s.CmdTouch));
        _out.Stat("cmd_meta"u8, Interlocked.Read(ref s.CmdMeta));
        _out.Stat("get_hits"u8, Interlocked.Read(ref s.GetHits));
        _out.Stat("get_misses"u8, Interlocked.Read(ref s.GetMisses));
        _out.Stat("get_expired"u8, 0);
        _out.Stat("get_flushed"u8, 0);
        _out.Stat("bytes_read"u8, Interlocked.Read(ref s.BytesRead));
        _out.Stat("bytes_written"u8, Interlocked.Read(ref s.BytesWritten));
        _out.Stat("limit_maxbytes"u8, 0);
        _out.Stat("accepting_conns"u8, 1);
        _out.Stat("threads"u8, Environment.ProcessorCount);
        _out.Stat("bytes"u8, _store.TotalMemoryBytes);
        _out.Stat("curr_items"u8, _store.TotalRows);
        _out.Stat("total_items"u8, _store.TotalRows);
        _out.Stat("evictions"u8, 0);
        _out.Stat("reclaimed"u8, 0);
        _out.Stat("pgrelay_ready"u8, _store.IsReady ? 1 : 0);
        _out.Stat("pgrelay_visible_lsn"u8, _store.VisibleLsn.ToString());
        _out.Stat("pgrelay_changes_applied"u8, _store.ChangesApplied);
        _out.Stat("pgrelay_tables"u8, _store.Tables.Count());
        _out.Stat("pgrelay_writes_rejected"u8, Interlocked.Read(ref s.WritesRejected));
        _out.Stat("pgrelay_render_cache_bytes"u8, _server.Rendered.Bytes);
        _out.Stat("pgrelay_render_cache_limit"u8, _server.Rendered.BudgetBytes);
        _out.Write(Replies.End);
    }

    /// <summary>memcached's "seconds.microseconds".</summary>
    private static string Rusage(TimeSpan time) =>
        $"{(long)time.TotalSeconds}.{time.Ticks % TimeSpan.TicksPerSecond / 10:D6}";

    private Step SettingsStats()
    {
        var local = _connection.LocalEndPoint as IPEndPoint;
        _out.Stat("maxbytes"u8, 0);
        _out.Stat("maxconns"u8, _options.MaxConnections);
        _out.Stat("tcpport"u8, local?.Port ?? _options.Port);
        _out.Stat("udpport"u8, 0);
        _out.Stat("inter"u8, (local?.Address ?? _options.BindAddress).ToString());
        _out.Stat("verbosity"u8, _server.Verbosity);
        _out.Stat("evictions"u8, "off"u8);
        _out.Stat("cas_enabled"u8, "yes"u8);
        _out.Stat("binding_protocol"u8, "auto-negotiate"u8);
        _out.Stat("item_size_max"u8, 1024 * 1024);
        _out.Stat("num_threads"u8, Environment.ProcessorCount);
        _out.Stat("max_line_length"u8, _options.MaxLineLength);
        _out.Stat("pgrelay_max_get_line_length"u8, _options.MaxGetLineLength);
        _out.Stat("pgrelay_read_only"u8, "yes"u8);
        _out.Write(Replies.End);
        return Step.Continue;
    }

    /// <summary>
    /// One "slab class" per table of each publication, numbered from 1 in publication order: memcached's item
    /// counters, plus <c>pgrelay_table</c> naming the key prefix the class stands for.
    /// </summary>
    private Step ItemStats()
    {
        int id = 0;
        foreach (var publication in _store.Publications)
        {
            foreach (var table in publication.Tables)
            {
                id++;
                ItemStat(id, "number"u8, table.RowCount);
                ItemStat(id, "age"u8, 0);
                ItemStat(id, "mem_requested"u8, table.MemoryBytes);
                ItemStat(id, "evicted"u8, 0);
                ItemStat(id, "outofmemory"u8, 0);
                _out.Write("STAT items:"u8);
                _out.WriteNumber((long)id);
                _out.Write(":pgrelay_table "u8);
                _out.Write(publication.Utf8KeyName);
                _out.WriteByte(CacheKey.Separator);
                _out.Write(table.Schema.Utf8KeyName);
                _out.Crlf();
            }
        }
        _out.Write(Replies.End);
        return Step.Continue;
    }

    private void ItemStat(int id, ReadOnlySpan<byte> field, long value)
    {
        _out.Write("STAT items:"u8);
        _out.WriteNumber((long)id);
        _out.WriteByte((byte)':');
        _out.Write(field);
        _out.Space();
        _out.WriteNumber(value);
        _out.Crlf();
    }

    // stats cachedump <class> <limit>: the keys of one table, for memcdump
    private Step Cachedump(ref LineTokens tokens)
    {
        if (!tokens.Next(out var classToken) || !tokens.Next(out var limitToken) ||
            !TryParse(classToken, out ulong classId) || !TryParse(limitToken, out ulong limit))
            return Reply(Replies.BadFormat);
        int id = 0;
        bool known = false;
        foreach (var publication in _store.Publications)
        {
            foreach (var table in publication.Tables)
            {
                if ((ulong)++id != classId) continue;
                known = true;
                using var pin = _store.Pin();
                long start = _out.Output.TotalWritten;
                ulong listed = 0;
                foreach (var row in table.Rows(pin))
                {
                    if ((limit != 0 && listed >= limit) || _out.Output.TotalWritten - start > CachedumpLimitBytes) break;
                    listed++;
                    int size = Render(row).Length;
                    _out.Write("ITEM "u8);
                    row.WriteFullKey(publication.Utf8KeyName, _out.Output);
                    _out.Write(" ["u8);
                    _out.WriteNumber((long)size);
                    _out.Write(" b; 0 s]\r\n"u8);
                }
            }
        }
        if (!known) return Reply("CLIENT_ERROR Illegal slab id\r\n"u8);
        _out.Write(Replies.End);
        return Step.Continue;
    }
}
