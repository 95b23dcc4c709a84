using Pgrelay.Resp.Protocol;
using Pgrelay.Resp.Server;

namespace Pgrelay.Resp.Commands;

internal static class ConnectionCommands
{
    public static void Ping(RespSession session, RespRequest request, RespWriter writer)
    {
        if (request.Count > 2)
        {
            writer.WriteError("ERR wrong number of arguments for 'ping' command"u8);
            return;
        }
        if (session.InSubscriberMode)
        {
            // RESP2 subscribers can only read arrays, so PING answers in the shape of a message.
            writer.WriteArrayHeader(2);
            writer.WriteBulk("pong"u8);
            writer.WriteBulk(request.Count == 2 ? request[1] : []);
            return;
        }
        if (request.Count == 2) writer.WriteBulk(request[1]);
        else writer.WriteSimple("PONG"u8);
    }

    public static void Echo(RespSession session, RespRequest request, RespWriter writer) => writer.WriteBulk(request[1]);

    public static void Select(RespSession session, RespRequest request, RespWriter writer)
    {
        if (!ScanOptions.TryParseInteger(request[1], out long db)) writer.WriteError("ERR value is not an integer or out of range"u8);
        else if (db != 0) writer.WriteError("ERR DB index is out of range"u8);
        else writer.WriteOk();
    }

    public static void Quit(RespSession session, RespRequest request, RespWriter writer)
    {
        writer.WriteOk();
        session.CloseAfterReply = true;
    }

    public static void Reset(RespSession session, RespRequest request, RespWriter writer)
    {
        session.Queued = null;
        session.MultiFailed = false;
        session.Watched = null;
        session.Server.Hub.RemoveAll(session);
        session.Server.Tracking.Disable(session);
        session.Tracking.Reset();
        session.Writer.Protocol = 2;
        session.Name = null;
        session.User = session.Server.Acl.Default;
        session.IsAuthenticated = !session.Server.Acl.RequiresAuthentication;
        writer.WriteSimple("RESET"u8);
    }

    public static void Auth(RespSession session, RespRequest request, RespWriter writer)
    {
        if (request.Count > 3)
        {
            writer.WriteError("ERR syntax error"u8);
            return;
        }
        if (request.Count == 2 && !session.Server.Acl.RequiresAuthentication && session.Server.Acl.Default.Permissions.NoPass)
        {
            writer.WriteError("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?"u8);
            return;
        }
        var userName = request.Count == 3 ? request.ArgString(1) : Acl.AclStore.DefaultUserName;
        if (TryAuthenticate(session, userName, request[request.Count - 1])) writer.WriteOk();
        else writer.WriteError("WRONGPASS invalid username-password pair or user is disabled."u8);
    }

    private static bool TryAuthenticate(RespSession session, string userName, ReadOnlySpan<byte> password)
    {
        var user = session.Server.Acl.Find(userName);
        if (user is null || !user.CheckPassword(password))
        {
            // Failed logins go to ACL LOG like denied commands, under the name that was tried.
            session.Server.Acl.Log.Add(Acl.AclDenial.Auth, session.Queued is not null, "AUTH", userName, session.Describe());
            return false;
        }
        session.User = user;
        session.IsAuthenticated = true;
        return true;
    }

    /// <summary>HELLO [protover [AUTH username password] [SETNAME clientname]]: switches protocol and answers with a map.</summary>
    public static void Hello(RespSession session, RespRequest request, RespWriter writer)
    {
        int protocol = session.Writer.Protocol;
        int i = 1;
        if (request.Count > 1)
        {
            if (!ScanOptions.TryParseInteger(request[1], out long version))
            {
                writer.WriteError("ERR Protocol version is not an integer or out of range"u8);
                return;
            }
            if (version is < 2 or > 3)
            {
                writer.WriteError("NOPROTO unsupported protocol version"u8);
                return;
            }
            protocol = (int)version;
            i = 2;
        }
        string? userName = null, name = null;
        byte[]? password = null;
        for (; i < request.Count; i++)
        {
            if (request.Is(i, "auth"u8) && request.Count - i - 1 >= 2)
            {
                userName = request.ArgString(i + 1);
                password = request[i + 2].ToArray();
                i += 2;
            }
            else if (request.Is(i, "setname"u8) && request.Count - i - 1 >= 1)
            {
                name = request.ArgString(i + 1);
                i += 1;
            }
            else
            {
                writer.WriteError($"ERR Syntax error in HELLO option '{request.ArgString(i)}'");
                return;
            }
        }
        if (userName is not null && !TryAuthenticate(session, userName, password))
        {
            writer.WriteError("WRONGPASS invalid username-password pair or user is disabled."u8);
            return;
        }
        if (!session.IsAuthenticated)
        {
            writer.WriteError("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time"u8);
            return;
        }
        if (name is not null)
        {
            if (!ClientCommands.IsValidName(name))
            {
                writer.WriteError("ERR Client names cannot contain spaces, newlines or special characters."u8);
                return;
            }
            session.Name = name.Length == 0 ? null : name;
        }
        session.Writer.Protocol = protocol;
        writer.WriteMapHeader(7);
        writer.WriteBulk("server"u8);
        writer.WriteBulk("redis"u8);
        writer.WriteBulk("version"u8);
        writer.WriteBulk(session.Server.Options.ReportedRedisVersion);
        writer.WriteBulk("proto"u8);
        writer.WriteInteger(protocol);
        writer.WriteBulk("id"u8);
        writer.WriteInteger(session.Id);
        writer.WriteBulk("mode"u8);
        writer.WriteBulk("standalone"u8);
        writer.WriteBulk("role"u8);
        writer.WriteBulk("master"u8);   // see ServerCommands.Role: clients must send reads here without replica options
        writer.WriteBulk("modules"u8);
        writer.WriteArrayHeader(0);
    }
}
