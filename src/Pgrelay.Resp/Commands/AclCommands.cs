using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Logging;
using Pgrelay.Resp.Acl;
using Pgrelay.Resp.Protocol;
using Pgrelay.Resp.Server;

namespace Pgrelay.Resp.Commands;

/// <summary>ACL subcommands in Redis's syntax and wording.</summary>
internal static class AclCommands
{
    public static void Acl(RespSession session, RespRequest request, RespWriter writer)
    {
        var acl = session.Server.Acl;
        if (request.Is(1, "whoami"u8)) writer.WriteBulk(session.User.Name);
        else if (request.Is(1, "users"u8))
        {
            var users = acl.Users;
            writer.WriteArrayHeader(users.Count);
            foreach (var u in users) writer.WriteBulk(u.Name);
        }
        else if (request.Is(1, "list"u8))
        {
            var users = acl.Users;
            writer.WriteArrayHeader(users.Count);
            foreach (var u in users) writer.WriteBulk(u.Describe());
        }
        else if (request.Is(1, "setuser"u8)) SetUser(session, request, writer);
        else if (request.Is(1, "getuser"u8)) GetUser(session, request, writer);
        else if (request.Is(1, "deluser"u8)) DelUser(session, request, writer);
        else if (request.Is(1, "cat"u8)) Cat(session, request, writer);
        else if (request.Is(1, "genpass"u8))
        {
            long bits = 256;
            if (request.Count > 2 && (!ScanOptions.TryParseInteger(request[2], out bits) || bits <= 0 || bits > 4096))
            {
                writer.WriteError("ERR ACL GENPASS argument must be the number of bits for the output password, a positive number up to 4096"u8);
                return;
            }
            var bytes = RandomNumberGenerator.GetBytes((int)((bits + 7) / 8));
            writer.WriteBulk(Convert.ToHexStringLower(bytes)[..(int)((bits + 3) / 4)]);
        }
        else if (request.Is(1, "load"u8))
        {
            if (session.Server.Options.AclFile is not { } file)
            {
                writer.WriteError("ERR This Redis instance is not configured to use an ACL file. You may want to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) in order to store users in the Redis configuration."u8);
                return;
            }
            try
            {
                acl.LoadFile(file);
                KillDeletedUsers(session);
                writer.WriteOk();
            }
            catch (InvalidOperationException e)
            {
                writer.WriteError("ERR " + e.Message);
            }
        }
        else if (request.Is(1, "save"u8))
        {
            if (session.Server.Options.AclFile is not { } file)
            {
                writer.WriteError("ERR This Redis instance is not configured to use an ACL file. You may want to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) in order to store users in the Redis configuration."u8);
                return;
            }
            try
            {
                acl.SaveFile(file);
                writer.WriteOk();
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Redis's reply names no path or cause (a client need not learn the server's file system); the log does.
                session.Server.Logger.LogWarning("ACL SAVE to {File} failed: {Reason}", file, e.Message);
                writer.WriteError("ERR There was an error trying to save the ACLs. Please check the server logs for more information"u8);
            }
        }
        else if (request.Is(1, "log"u8)) Log(session, request, writer);
        else if (request.Is(1, "dryrun"u8)) DryRun(session, request, writer);
        else if (request.Is(1, "help"u8))
        {
            KeyCommands.WriteHelp(writer, ["ACL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "CAT [<category>]", "DELUSER <username> [<username> ...]", "GETUSER <username>", "GENPASS [<bits>]",
                "DRYRUN <username> <command> [<arg> ...]", "LIST", "LOAD", "SAVE", "SETUSER <username> <attribute> [<attribute> ...]", "USERS", "WHOAMI",
                "LOG [<count> | RESET]", "HELP"]);
        }
        else writer.WriteError($"ERR unknown subcommand '{request.ArgString(1)}'. Try ACL HELP.");
    }

    private static void SetUser(RespSession session, RespRequest request, RespWriter writer)
    {
        var name = request.ArgString(2);
        var rules = Enumerable.Range(3, request.Count - 3).Select(request.ArgString).ToArray();
        try
        {
            var user = session.Server.Acl.SetUser(name, rules);
            KillUnauthorizedSubscribers(session, user);
            writer.WriteOk();
        }
        catch (AclRuleException e)
        {
            writer.WriteError("ERR " + e.Message);
        }
    }

    /// <summary>As in Redis, clients of a changed user that are subscribed to channels it may no longer hear are disconnected.</summary>
    private static void KillUnauthorizedSubscribers(RespSession session, AclUser user)
    {
        var permissions = user.Permissions;
        if (permissions.AllChannels) return;
        foreach (var client in session.Server.Clients.All)
        {
            if (client.User != user || client.SubscriptionCount == 0) continue;
            bool allowed = client.Subscriptions(pattern: false).All(c => permissions.CanAccessChannel(Encoding.UTF8.GetBytes(c), isPattern: false))
                && client.Subscriptions(pattern: true).All(p => permissions.CanAccessChannel(Encoding.UTF8.GetBytes(p), isPattern: true))
                && client.ShardSubscriptions().All(c => permissions.CanAccessChannel(Encoding.UTF8.GetBytes(c), isPattern: false));
            if (allowed) continue;
            if (client == session) session.CloseAfterReply = true;
            else client.Kill("its user may no longer access a subscribed channel");
        }
    }

    private static void GetUser(RespSession session, RespRequest request, RespWriter writer)
    {
        var user = session.Server.Acl.Find(request.ArgString(2));
        if (user is null) { writer.WriteNull(); return; }
        var p = user.Permissions;
        writer.WriteMapHeader(6);
        writer.WriteBulk("flags"u8);
        var flags = p.Flags().ToArray();
        writer.WriteArrayHeader(flags.Length);
        foreach (var f in flags) writer.WriteBulk(f);
        writer.WriteBulk("passwords"u8);
        writer.WriteArrayHeader(p.PasswordHashes.Count);
        foreach (var h in p.PasswordHashes) writer.WriteBulk(h);
        WriteSelector(writer, p.Root);
        writer.WriteBulk("selectors"u8);
        writer.WriteArrayHeader(p.Selectors.Count);
        foreach (var selector in p.Selectors)
        {
            writer.WriteMapHeader(3);
            WriteSelector(writer, selector);
        }
    }

    private static void WriteSelector(RespWriter writer, AclSelector selector)
    {
        writer.WriteBulk("commands"u8);
        writer.WriteBulk(selector.CommandsText);
        writer.WriteBulk("keys"u8);
        writer.WriteBulk(selector.KeysText);
        writer.WriteBulk("channels"u8);
        writer.WriteBulk(selector.ChannelsText);
    }

    /// <summary>ACL LOG [count | RESET]: newest first, ten by default.</summary>
    private static void Log(RespSession session, RespRequest request, RespWriter writer)
    {
        var log = session.Server.Acl.Log;
        long count = 10;
        if (request.Count > 3)
        {
            writer.WriteError($"ERR unknown subcommand or wrong number of arguments for '{request.ArgString(1)}'. Try ACL HELP.");
            return;
        }
        if (request.Count == 3)
        {
            if (request.Is(2, "reset"u8))
            {
                log.Reset();
                writer.WriteOk();
                return;
            }
            if (!ScanOptions.TryParseInteger(request[2], out count))
            {
                writer.WriteError("ERR value is not an integer or out of range"u8);
                return;
            }
        }
        var entries = log.Newest((int)Math.Clamp(count, 0, AclLog.MaxEntries));
        var now = DateTimeOffset.UtcNow;
        writer.WriteArrayHeader(entries.Count);
        foreach (var e in entries)
        {
            writer.WriteMapHeader(7);
            writer.WriteBulk("count"u8);
            writer.WriteInteger(e.Count);
            writer.WriteBulk("reason"u8);
            writer.WriteBulk(e.Reason);
            writer.WriteBulk("context"u8);
            writer.WriteBulk(e.Context);
            writer.WriteBulk("object"u8);
            writer.WriteBulk(e.Object);
            writer.WriteBulk("username"u8);
            writer.WriteBulk(e.UserName);
            writer.WriteBulk("age-seconds"u8);
            writer.WriteDouble(Math.Round((now - e.LastAt).TotalSeconds, 3));
            writer.WriteBulk("client-info"u8);
            writer.WriteBulk(e.ClientInfo);
        }
    }

    /// <summary>ACL DRYRUN user command [args]: whether the user could run it, without running it or logging.</summary>
    private static void DryRun(RespSession session, RespRequest request, RespWriter writer)
    {
        var user = session.Server.Acl.Find(request.ArgString(2));
        if (user is null)
        {
            writer.WriteError($"ERR User '{request.ArgString(2)}' not found");
            return;
        }
        var simulated = new RespRequest();
        simulated.Load(Enumerable.Range(3, request.Count - 3).Select(i => request[i].ToArray()).ToArray());
        var command = session.Server.Commands.Find(simulated.Name);
        if (command is not null && command.HasSubcommands && simulated.Count >= 2) command = command.FindSubcommand(simulated[1]);
        if (command is null)
        {
            writer.WriteError($"ERR Command '{request.ArgString(3)}' not found");
            return;
        }
        if (!command.ArityMatches(simulated.Count))
        {
            writer.WriteError($"ERR wrong number of arguments for '{command.FullName}' command");
            return;
        }
        var denial = user.Permissions.Check(command, simulated, out int argument);
        if (denial == AclDenial.None) writer.WriteOk();
        else writer.WriteBulk(AclMessages.DryRun(denial, command, denial == AclDenial.Command ? "" : simulated.ArgString(argument)));
    }

    private static void DelUser(RespSession session, RespRequest request, RespWriter writer)
    {
        int deleted = 0;
        for (int i = 2; i < request.Count; i++)
        {
            var name = request.ArgString(i);
            if (name == AclStore.DefaultUserName)
            {
                writer.WriteError("ERR The 'default' user cannot be removed"u8);
                return;
            }
        }
        for (int i = 2; i < request.Count; i++)
            if (session.Server.Acl.Delete(request.ArgString(i))) deleted++;
        KillDeletedUsers(session);
        writer.WriteInteger(deleted);
    }

    /// <summary>As in Redis, connections authenticated as a user that no longer exists are closed.</summary>
    private static void KillDeletedUsers(RespSession session)
    {
        foreach (var client in session.Server.Clients.All)
        {
            if (!client.User.Deleted) continue;
            if (client == session) session.CloseAfterReply = true;
            else client.Kill("its user was deleted");
        }
    }

    private static void Cat(RespSession session, RespRequest request, RespWriter writer)
    {
        if (request.Count > 3)
        {
            writer.WriteError($"ERR unknown subcommand or wrong number of arguments for '{request.ArgString(1)}'. Try ACL HELP.");
            return;
        }
        if (request.Count == 2)
        {
            writer.WriteArrayHeader(AclCategoryNames.All.Length);
            foreach (var (name, _) in AclCategoryNames.All) writer.WriteBulk(name);
            return;
        }
        if (!AclCategoryNames.TryParse(request.ArgString(2), out var category))
        {
            writer.WriteError($"ERR Unknown category '{request.ArgString(2)}'");
            return;
        }
        var commands = session.Server.Commands.Every.Where(c => (c.Categories & category) != 0).ToArray();
        writer.WriteArrayHeader(commands.Length);
        foreach (var c in commands) writer.WriteBulk(c.FullName);
    }
}
