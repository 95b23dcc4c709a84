using System.Text;
using Pgrelay.Resp.Protocol;
using Pgrelay.Resp.Server;

namespace Pgrelay.Resp.Commands;

/// <summary>CLIENT subcommands: identity, listing and killing connections, and server-assisted caching.</summary>
internal static class ClientCommands
{
    public static void Client(RespSession session, RespRequest request, RespWriter writer)
    {
        if (request.Is(1, "id"u8)) writer.WriteInteger(session.Id);
        else if (request.Is(1, "setname"u8)) SetName(session, request, writer);
        else if (request.Is(1, "getname"u8))
        {
            if (session.Name is null) writer.WriteNull(); else writer.WriteBulk(session.Name);
        }
        else if (request.Is(1, "list"u8)) List(session, request, writer);
        else if (request.Is(1, "info"u8)) writer.WriteBulk(session.Describe() + "\n");
        else if (request.Is(1, "kill"u8)) Kill(session, request, writer);
        else if (request.Is(1, "setinfo"u8))
        {
            if (request.Count != 4) Arity(writer, "client|setinfo");
            else writer.WriteOk();
        }
        else if (request.Is(1, "tracking"u8)) Tracking(session, request, writer);
        else if (request.Is(1, "caching"u8)) Caching(session, request, writer);
        else if (request.Is(1, "getredir"u8))
            writer.WriteInteger(session.Tracking.Enabled ? session.Tracking.RedirectId : -1);
        else if (request.Is(1, "trackinginfo"u8)) TrackingInfo(session, writer);
        else if (request.Is(1, "no-evict"u8) || request.Is(1, "no-touch"u8)) writer.WriteOk();
        else if (request.Is(1, "help"u8))
            KeyCommands.WriteHelp(writer, ["CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "ID", "GETNAME", "SETNAME <name>", "LIST [TYPE normal|pubsub] [ID <id> ...]", "INFO",
                "KILL <ip:port> | KILL [ID <id>] [ADDR <ip:port>] [LADDR <ip:port>] [USER <name>] [SKIPME yes|no]",
                "TRACKING (ON|OFF) [REDIRECT <id>] [PREFIX <prefix> ...] [BCAST] [OPTIN] [OPTOUT] [NOLOOP]",
                "CACHING (YES|NO)", "GETREDIR", "TRACKINGINFO", "HELP"]);
        else writer.WriteError($"ERR unknown subcommand '{request.ArgString(1)}'. Try CLIENT HELP.");
    }

    private static void Arity(RespWriter writer, string name) =>
        writer.WriteError($"ERR wrong number of arguments for '{name}' command");

    /// <summary>Redis allows printable ASCII without spaces (33..126).</summary>
    public static bool IsValidName(string name) => name.All(c => c is > ' ' and <= '~');

    private static void SetName(RespSession session, RespRequest request, RespWriter writer)
    {
        if (request.Count != 3) { Arity(writer, "client|setname"); return; }
        var name = request.ArgString(2);
        if (!IsValidName(name))
        {
            writer.WriteError("ERR Client names cannot contain spaces, newlines or special characters."u8);
            return;
        }
        session.Name = name.Length == 0 ? null : name;
        writer.WriteOk();
    }

    private static void List(RespSession session, RespRequest request, RespWriter writer)
    {
        IEnumerable<RespSession> clients = session.Server.Clients.All;
        for (int i = 2; i < request.Count; i++)
        {
            if (request.Is(i, "type"u8) && i + 1 < request.Count)
            {
                bool pubsub = request.Is(++i, "pubsub"u8);
                if (!pubsub && !request.Is(i, "normal"u8) && !request.Is(i, "master"u8) && !request.Is(i, "replica"u8))
                {
                    writer.WriteError($"ERR Unknown client type '{request.ArgString(i)}'");
                    return;
                }
                bool normal = request.Is(i, "normal"u8);
                clients = clients.Where(c => pubsub ? c.SubscriptionCount > 0 : normal && c.SubscriptionCount == 0);
            }
            else if (request.Is(i, "id"u8) && i + 1 < request.Count)
            {
                var ids = new HashSet<long>();
                for (i++; i < request.Count; i++)
                {
                    if (!ScanOptions.TryParseInteger(request[i], out long id) || id <= 0)
                    {
                        writer.WriteError("ERR Invalid client ID"u8);
                        return;
                    }
                    ids.Add(id);
                }
                clients = clients.Where(c => ids.Contains(c.Id));
            }
            else
            {
                writer.WriteError("ERR syntax error"u8);
                return;
            }
        }
        var text = new StringBuilder();
        foreach (var c in clients) text.Append(c.Describe()).Append('\n');
        writer.WriteBulk(text.ToString());
    }

    private static void Kill(RespSession session, RespRequest request, RespWriter writer)
    {
        var clients = session.Server.Clients;
        if (request.Count == 3)
        {
            // Old form: CLIENT KILL addr:port, answering OK or an error.
            var address = request.ArgString(2);
            var target = clients.All.FirstOrDefault(c => c.RemoteAddress == address);
            if (target is null) { writer.WriteError("ERR No such client"u8); return; }
            Close(session, target);
            writer.WriteOk();
            return;
        }
        if (request.Count < 3 || request.Count % 2 != 0) { writer.WriteError("ERR syntax error"u8); return; }
        IEnumerable<RespSession> targets = clients.All;
        bool skipMe = true;
        for (int i = 2; i < request.Count; i += 2)
        {
            var value = request.ArgString(i + 1);
            if (request.Is(i, "id"u8))
            {
                if (!long.TryParse(value, out long id) || id <= 0) { writer.WriteError("ERR client-id should be greater than 0"u8); return; }
                targets = targets.Where(c => c.Id == id);
            }
            else if (request.Is(i, "addr"u8)) targets = targets.Where(c => c.RemoteAddress == value);
            else if (request.Is(i, "laddr"u8)) targets = targets.Where(c => c.LocalAddress == value);
            else if (request.Is(i, "user"u8))
            {
                if (session.Server.Acl.Find(value) is null) { writer.WriteError($"ERR No such user '{value}'"); return; }
                targets = targets.Where(c => c.User.Name == value);
            }
            else if (request.Is(i, "type"u8))
            {
                bool pubsub = value.Equals("pubsub", StringComparison.OrdinalIgnoreCase);
                targets = targets.Where(c => pubsub == c.SubscriptionCount > 0);
            }
            else if (request.Is(i, "skipme"u8))
            {
                if (value.Equals("yes", StringComparison.OrdinalIgnoreCase)) skipMe = true;
                else if (value.Equals("no", StringComparison.OrdinalIgnoreCase)) skipMe = false;
                else { writer.WriteError("ERR syntax error"u8); return; }
            }
            else { writer.WriteError("ERR syntax error"u8); return; }
        }
        int killed = 0;
        foreach (var target in targets.ToArray())
        {
            if (skipMe && target == session) continue;
            Close(session, target);
            killed++;
        }
        writer.WriteInteger(killed);
    }

    /// <summary>Killing yourself closes after the reply, as in Redis; anyone else is closed at once.</summary>
    private static void Close(RespSession self, RespSession target)
    {
        if (target == self) self.CloseAfterReply = true;
        else target.Kill("killed by CLIENT KILL");
    }

    private static void Tracking(RespSession session, RespRequest request, RespWriter writer)
    {
        if (request.Count < 3) { Arity(writer, "client|tracking"); return; }
        bool on;
        if (request.Is(2, "on"u8)) on = true;
        else if (request.Is(2, "off"u8)) on = false;
        else { writer.WriteError("ERR syntax error"u8); return; }

        long redirect = 0;
        bool bcast = false, optIn = false, optOut = false, noLoop = false;
        var prefixes = new List<byte[]>();
        for (int i = 3; i < request.Count; i++)
        {
            bool hasValue = i + 1 < request.Count;
            if (request.Is(i, "redirect"u8) && hasValue)
            {
                if (redirect != 0) { writer.WriteError("ERR A client can only redirect to a single other client"u8); return; }
                if (!ScanOptions.TryParseInteger(request[++i], out redirect)) { writer.WriteError("ERR value is not an integer or out of range"u8); return; }
                if (redirect == session.Id) redirect = 0;   // Redis treats redirecting to yourself as no redirect
                else if (session.Server.Clients.Find(redirect) is null)
                {
                    writer.WriteError("ERR The client ID you want redirect to does not exist"u8);
                    return;
                }
            }
            else if (request.Is(i, "bcast"u8)) bcast = true;
            else if (request.Is(i, "optin"u8)) optIn = true;
            else if (request.Is(i, "optout"u8)) optOut = true;
            else if (request.Is(i, "noloop"u8)) noLoop = true;
            else if (request.Is(i, "prefix"u8) && hasValue) prefixes.Add(request[++i].ToArray());
            else { writer.WriteError("ERR syntax error"u8); return; }
        }

        var tracking = session.Tracking;
        if (!on)
        {
            session.Server.Tracking.Disable(session);
            tracking.Reset();
            writer.WriteOk();
            return;
        }
        if (prefixes.Count > 0 && !bcast) { writer.WriteError("ERR PREFIX option requires BCAST mode to be enabled"u8); return; }
        if (optIn && optOut) { writer.WriteError("ERR You can't use both OPTIN and OPTOUT"u8); return; }
        if (tracking.Enabled && tracking.Bcast != bcast)
        {
            writer.WriteError("ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode."u8);
            return;
        }
        if ((optIn || optOut) && bcast) { writer.WriteError("ERR OPTIN and OPTOUT are not compatible with BCAST"u8); return; }
        tracking.Enabled = true;
        tracking.RedirectId = redirect;
        tracking.Bcast = bcast;
        tracking.OptIn = optIn;
        tracking.OptOut = optOut;
        tracking.NoLoop = noLoop;   // nothing loops back here: clients cannot write
        tracking.Prefixes = [.. tracking.Prefixes, .. prefixes];
        tracking.CachingOverride = null;
        session.Server.Tracking.Enable(session);
        writer.WriteOk();
    }

    private static void Caching(RespSession session, RespRequest request, RespWriter writer)
    {
        if (request.Count != 3) { Arity(writer, "client|caching"); return; }
        var tracking = session.Tracking;
        if (!tracking.Enabled || !(tracking.OptIn || tracking.OptOut))
        {
            writer.WriteError("ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled"u8);
            return;
        }
        if (request.Is(2, "yes"u8))
        {
            if (!tracking.OptIn) { writer.WriteError("ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode."u8); return; }
            tracking.CachingOverride = true;
        }
        else if (request.Is(2, "no"u8))
        {
            if (!tracking.OptOut) { writer.WriteError("ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode."u8); return; }
            tracking.CachingOverride = false;
        }
        else { writer.WriteError("ERR syntax error"u8); return; }
        writer.WriteOk();
    }

    private static void TrackingInfo(RespSession session, RespWriter writer)
    {
        var t = session.Tracking;
        var flags = new List<string>();
        if (!t.Enabled) flags.Add("off");
        else
        {
            flags.Add("on");
            if (t.Bcast) flags.Add("bcast");
            if (t.OptIn) flags.Add("optin");
            if (t.OptOut) flags.Add("optout");
            if (t.CachingOverride == true) flags.Add("caching-yes");
            if (t.CachingOverride == false) flags.Add("caching-no");
            if (t.NoLoop) flags.Add("noloop");
            if (t.RedirectId > 0 && session.Server.Clients.Find(t.RedirectId) is null) flags.Add("broken_redirect");
        }
        writer.WriteMapHeader(3);
        writer.WriteBulk("flags"u8);
        writer.WriteSetHeader(flags.Count);
        foreach (var f in flags) writer.WriteBulk(f);
        writer.WriteBulk("redirect"u8);
        writer.WriteInteger(!t.Enabled ? -1 : t.RedirectId);
        writer.WriteBulk("prefixes"u8);
        writer.WriteArrayHeader(t.Prefixes.Count);
        foreach (var p in t.Prefixes) writer.WriteBulk(p);
    }
}
