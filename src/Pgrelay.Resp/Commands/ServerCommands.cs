using System.Diagnostics;
using System.Text;
using Pgrelay.Resp.Keyspace;
using Pgrelay.Resp.Protocol;
using Pgrelay.Resp.Server;

namespace Pgrelay.Resp.Commands;

/// <summary>INFO, COMMAND, CONFIG and friends: enough of Redis's server surface for redis-cli and client libraries.</summary>
internal static class ServerCommands
{
    private static readonly string[] DefaultSections = ["server", "clients", "memory", "stats", "replication", "keyspace"];

    public static void Info(RespSession session, RespRequest request, RespWriter writer)
    {
        session.PublishCommandCount();
        var sections = new List<string>();
        for (int i = 1; i < request.Count; i++) sections.Add(request.ArgString(i).ToLowerInvariant());
        if (sections.Count == 0 || sections.Contains("default") || sections.Contains("all") || sections.Contains("everything"))
            sections = [.. DefaultSections];
        writer.WriteBulk(InfoText.Render(session.Server, sections));
    }

    public static void Command(RespSession session, RespRequest request, RespWriter writer)
    {
        var commands = session.Server.Commands;
        if (request.Count == 1)
        {
            writer.WriteArrayHeader(commands.Count);
            foreach (var c in commands.All) WriteInfo(writer, c);
        }
        else if (request.Is(1, "count"u8)) writer.WriteInteger(commands.Count);
        else if (request.Is(1, "info"u8))
        {
            var named = request.Count == 2 ? commands.All.ToArray() : Enumerable.Range(2, request.Count - 2).Select(i => commands.Find(request[i])).ToArray();
            writer.WriteArrayHeader(named.Length);
            foreach (var c in named)
            {
                if (c is null) writer.WriteNullArray();
                else WriteInfo(writer, c);
            }
        }
        else if (request.Is(1, "docs"u8))
        {
            var named = request.Count == 2 ? commands.All.ToArray() : Enumerable.Range(2, request.Count - 2).Select(i => commands.Find(request[i])).OfType<CommandDefinition>().ToArray();
            writer.WriteMapHeader(named.Length);
            foreach (var c in named)
            {
                writer.WriteBulk(c.Utf8Name);
                writer.WriteMapHeader(3);
                writer.WriteBulk("summary"u8);
                writer.WriteBulk(c.Summary);
                writer.WriteBulk("since"u8);
                writer.WriteBulk("1.0.0"u8);
                writer.WriteBulk("group"u8);
                writer.WriteBulk(c.Group);
            }
        }
        else if (request.Is(1, "list"u8))
        {
            writer.WriteArrayHeader(commands.Count);
            foreach (var c in commands.All) writer.WriteBulk(c.Utf8Name);
        }
        else if (request.Is(1, "help"u8))
        {
            KeyCommands.WriteHelp(writer, ["COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "(no subcommand)", "    Return details about all commands.", "COUNT", "    Return the total number of commands.",
                "DOCS [<command-name> ...]", "INFO [<command-name> ...]", "LIST", "HELP"]);
        }
        else writer.WriteError($"ERR unknown subcommand '{request.ArgString(1)}'. Try COMMAND HELP.");
    }

    private static void WriteInfo(RespWriter writer, CommandDefinition c)
    {
        writer.WriteArrayHeader(10);
        writer.WriteBulk(c.Utf8Name);
        writer.WriteInteger(c.Arity);
        var flags = c.FlagNames().ToArray();
        writer.WriteSetHeader(flags.Length);
        foreach (var f in flags) writer.WriteSimple(Encoding.ASCII.GetBytes(f));
        writer.WriteInteger(c.FirstKey);
        writer.WriteInteger(c.LastKey);
        writer.WriteInteger(c.Step);
        var categories = AclCategoryNames.Names(c.Categories).ToArray();
        writer.WriteSetHeader(categories.Length);
        foreach (var n in categories) writer.WriteSimple(Encoding.ASCII.GetBytes("@" + n));
        writer.WriteSetHeader(0);     // tips
        writer.WriteArrayHeader(0);   // key specs: first/last/step above describe the keys
        writer.WriteArrayHeader(0);   // subcommands
    }

    public static void Config(RespSession session, RespRequest request, RespWriter writer)
    {
        if (request.Is(1, "get"u8))
        {
            if (request.Count < 3) { writer.WriteError("ERR wrong number of arguments for 'config|get' command"u8); return; }
            var values = ConfigValues(session.Server);
            var matched = new Dictionary<string, string>();
            for (int i = 2; i < request.Count; i++)
            {
                var pattern = request[i].ToArray();
                foreach (var (name, value) in values)
                    if (GlobPattern.IsMatch(LowerAscii(pattern), Encoding.UTF8.GetBytes(name))) matched[name] = value;
            }
            writer.WriteMapHeader(matched.Count);
            foreach (var (name, value) in matched)
            {
                writer.WriteBulk(name);
                writer.WriteBulk(value);
            }
        }
        else if (request.Is(1, "resetstat"u8))
        {
            session.Server.Stats.Reset();
            writer.WriteOk();
        }
        else if (request.Is(1, "set"u8) || request.Is(1, "rewrite"u8))
        {
            writer.WriteError("ERR pgrelay is configured by its command line, environment or config file; CONFIG SET and REWRITE are not supported"u8);
        }
        else if (request.Is(1, "help"u8))
        {
            KeyCommands.WriteHelp(writer, ["CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "GET <pattern>", "    Return parameters matching the glob-like <pattern> and their values.", "RESETSTAT", "    Reset statistics reported by the INFO command.", "HELP"]);
        }
        else writer.WriteError($"ERR unknown subcommand '{request.ArgString(1)}'. Try CONFIG HELP.");
    }

    private static byte[] LowerAscii(byte[] text)
    {
        for (int i = 0; i < text.Length; i++) if (text[i] is >= (byte)'A' and <= (byte)'Z') text[i] |= 0x20;
        return text;
    }

    private static IEnumerable<(string, string)> ConfigValues(RespServer server)
    {
        var o = server.Options;
        yield return ("bind", o.BindAddress.ToString());
        yield return ("port", o.Port.ToString());
        yield return ("databases", "1");
        yield return ("maxclients", o.MaxClients.ToString());
        yield return ("protected-mode", o.ProtectedMode ? "yes" : "no");
        yield return ("notify-keyspace-events", "KEgh");
        yield return ("replica-read-only", "yes");
        yield return ("slave-read-only", "yes");
        yield return ("timeout", ((long)o.IdleTimeout.TotalSeconds).ToString());
        yield return ("save", "");
        yield return ("appendonly", "no");
        yield return ("maxmemory", "0");
        yield return ("maxmemory-policy", "noeviction");
        yield return ("proto-max-bulk-len", o.ProtoMaxBulkLength.ToString());
        yield return ("client-query-buffer-limit", o.QueryBufferLimit.ToString());
        yield return ("client-output-buffer-limit",
            $"normal {Limit(o.OutputLimitNormal)} slave 268435456 67108864 60 pubsub {Limit(o.OutputLimitPubSub)}");
        yield return ("tracking-table-max-keys", o.MaxTrackedKeys.ToString());
        yield return ("cluster-enabled", "no");
        yield return ("aclfile", o.AclFile ?? "");
    }

    private static string Limit(Transport.OutputBufferLimit l) => $"{l.HardBytes} {l.SoftBytes} {l.SoftSeconds}";

    public static void Time(RespSession session, RespRequest request, RespWriter writer)
    {
        long micros = (DateTime.UtcNow - DateTime.UnixEpoch).Ticks / 10;
        writer.WriteArrayHeader(2);
        writer.WriteBulk((micros / 1_000_000).ToString());
        writer.WriteBulk((micros % 1_000_000).ToString());
    }

    /// <summary>
    /// Reports "master": clients route reads to a replica only when told to, and this server is the only node
    /// they see. Writes are still refused with READONLY.
    /// </summary>
    public static void Role(RespSession session, RespRequest request, RespWriter writer)
    {
        writer.WriteArrayHeader(3);
        writer.WriteBulk("master"u8);
        writer.WriteInteger((long)session.Store.VisibleLsn.Value);
        writer.WriteArrayHeader(0);
    }

    public static void LastSave(RespSession session, RespRequest request, RespWriter writer) =>
        writer.WriteInteger(session.Server.StartedAt.ToUnixTimeSeconds());
}

/// <summary>The INFO text: Redis's sections and field names, plus pgrelay's replication figures.</summary>
internal static class InfoText
{
    public static string Render(RespServer server, IReadOnlyList<string> sections)
    {
        var text = new StringBuilder();
        foreach (var section in sections.Distinct())
        {
            int before = text.Length;
            switch (section)
            {
                case "server": Server(server, text); break;
                case "clients": Clients(server, text); break;
                case "memory": Memory(server, text); break;
                case "stats": Stats(server, text); break;
                case "replication": Replication(server, text); break;
                case "keyspace": Keyspace(server, text); break;
                default: continue;
            }
            if (text.Length > before) text.Append("\r\n");
        }
        if (text.Length >= 2) text.Length -= 2;
        return text.ToString();
    }

    private static void Line(StringBuilder text, string name, object value) => text.Append(name).Append(':').Append(value).Append("\r\n");

    private static void Server(RespServer server, StringBuilder text)
    {
        var uptime = DateTimeOffset.UtcNow - server.StartedAt;
        text.Append("# Server\r\n");
        Line(text, "redis_version", server.Options.ReportedRedisVersion);
        Line(text, "pgrelay_version", typeof(RespServer).Assembly.GetName().Version?.ToString() ?? "0.0.0");
        Line(text, "redis_mode", "standalone");
        Line(text, "os", System.Runtime.InteropServices.RuntimeInformation.OSDescription);
        Line(text, "arch_bits", IntPtr.Size * 8);
        Line(text, "process_id", Environment.ProcessId);
        Line(text, "run_id", server.RunId);
        Line(text, "tcp_port", server.Options.Port);
        Line(text, "uptime_in_seconds", (long)uptime.TotalSeconds);
        Line(text, "uptime_in_days", (long)uptime.TotalDays);
        Line(text, "executable", Environment.ProcessPath ?? "");
    }

    private static void Clients(RespServer server, StringBuilder text)
    {
        text.Append("# Clients\r\n");
        Line(text, "connected_clients", server.Clients.Count);
        Line(text, "maxclients", server.Options.MaxClients);
        Line(text, "blocked_clients", 0);
        Line(text, "tracking_clients", server.Tracking.TrackingClients);
        Line(text, "pubsub_clients", server.Clients.All.Count(c => c.SubscriptionCount > 0));
    }

    private static void Memory(RespServer server, StringBuilder text)
    {
        long used = GC.GetTotalMemory(false);
        long dataset = server.Store.TotalMemoryBytes;
        text.Append("# Memory\r\n");
        Line(text, "used_memory", used);
        Line(text, "used_memory_human", Human(used));
        Line(text, "used_memory_rss", Process.GetCurrentProcess().WorkingSet64);
        Line(text, "used_memory_dataset", dataset);
        Line(text, "used_memory_dataset_human", Human(dataset));
        Line(text, "maxmemory", 0);
        Line(text, "maxmemory_policy", "noeviction");
        Line(text, "tracking_table_keys", server.Tracking.TrackedKeys);
    }

    private static string Human(long bytes) => bytes switch
    {
        >= 1L << 30 => $"{bytes / (double)(1L << 30):0.00}G",
        >= 1L << 20 => $"{bytes / (double)(1L << 20):0.00}M",
        >= 1L << 10 => $"{bytes / 1024.0:0.00}K",
        _ => $"{bytes}B",
    };

    private static void Stats(RespServer server, StringBuilder text)
    {
        var s = server.Stats;
        text.Append("# Stats\r\n");
        Line(text, "total_connections_received", s.ConnectionsReceived);
        Line(text, "total_commands_processed", s.CommandsProcessed);
        Line(text, "rejected_connections", s.RejectedConnections);
        Line(text, "keyspace_hits", s.KeyspaceHits);
        Line(text, "keyspace_misses", s.KeyspaceMisses);
        Line(text, "pubsub_channels", server.Hub.ChannelCount);
        Line(text, "pubsub_patterns", server.Hub.PatternCount);
        Line(text, "total_error_replies_protocol", s.ProtocolErrors);
        Line(text, "client_output_buffer_limit_disconnections", s.OutputLimitDisconnects);
        Line(text, "expired_keys", 0);
        Line(text, "evicted_keys", 0);
    }

    private static void Replication(RespServer server, StringBuilder text)
    {
        var status = server.Status;
        var store = server.Store;
        text.Append("# Replication\r\n");
        Line(text, "role", "master");
        Line(text, "connected_slaves", 0);
        Line(text, "master_replid", server.RunId);
        Line(text, "master_repl_offset", store.VisibleLsn.Value);
        Line(text, "pgrelay_source", "postgresql");
        Line(text, "pgrelay_phase", status.Phase.ToString().ToLowerInvariant());
        Line(text, "pgrelay_ready", store.IsReady ? 1 : 0);
        Line(text, "pgrelay_resnapshotting", store.IsResnapshotting ? 1 : 0);
        Line(text, "pgrelay_resnapshots", status.Resnapshots);
        Line(text, "pgrelay_tables_loading", status.Reloads.Count);
        Line(text, "pgrelay_checkpoint_enabled", status.Checkpoints.Enabled ? 1 : 0);
        Line(text, "pgrelay_checkpoint_lsn", status.Checkpoints.LastLsn);
        Line(text, "pgrelay_checkpoints_written", status.Checkpoints.Written);
        Line(text, "pgrelay_checkpoint_loaded_lsn", status.Checkpoints.LoadedLsn);
        Line(text, "pgrelay_checkpoints_useless", status.Checkpoints.Useless);
        Line(text, "pgrelay_slot", status.SlotName);
        Line(text, "pgrelay_consistent_point", status.ConsistentPoint);
        Line(text, "pgrelay_received_lsn", status.ReceivedLsn);
        Line(text, "pgrelay_applied_lsn", status.AppliedLsn);
        Line(text, "pgrelay_visible_lsn", store.VisibleLsn);
        Line(text, "pgrelay_confirmed_lsn", status.ConfirmedLsn);
        Line(text, "pgrelay_server_wal_end", status.ServerWalEnd);
        Line(text, "pgrelay_lag_bytes", status.LagBytes);
        Line(text, "pgrelay_lag_seconds", status.LagSeconds(DateTimeOffset.UtcNow).ToString("0.000", System.Globalization.CultureInfo.InvariantCulture));
        Line(text, "pgrelay_transactions_applied", status.TransactionsApplied);
        Line(text, "pgrelay_changes_applied", status.ChangesApplied);
        Line(text, "pgrelay_reconnects", status.Reconnects);
        // What the slot makes the server keep; fields without a reading yet are left out rather than shown as 0.
        var retention = status.Retention;
        if (retention?.RetainedBytes is { } retained) Line(text, "pgrelay_slot_retained_wal_bytes", retained);
        if (retention?.WalStatus is { } walStatus) Line(text, "pgrelay_slot_wal_status", walStatus);
        if (retention?.SafeWalSizeBytes is { } safe) Line(text, "pgrelay_slot_safe_wal_size_bytes", safe);
        if (status.RetentionAtStart?.RetainedBytes is { } atStart) Line(text, "pgrelay_slot_retained_at_start_bytes", atStart);
        Line(text, "pgrelay_slot_retention_warning", status.RetentionWarning ? 1 : 0);
        Line(text, "pgrelay_slot_retention_warning_threshold_bytes", status.RetentionWarningBytes);
        if (status.LastError is { } error) Line(text, "pgrelay_last_error", error.ReplaceLineEndings(" "));
    }

    private static void Keyspace(RespServer server, StringBuilder text)
    {
        text.Append("# Keyspace\r\n");
        long keys = server.Keyspace.KeyCount;
        if (keys > 0) Line(text, "db0", $"keys={keys},expires=0,avg_ttl=0");
    }
}
