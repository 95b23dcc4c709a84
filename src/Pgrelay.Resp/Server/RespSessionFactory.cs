using System.Net;
using Pgrelay.Resp.Acl;
using Pgrelay.Transport;

namespace Pgrelay.Resp.Server;

/// <summary>The transport's way into the Redis protocol: one <see cref="RespSession"/> per admitted connection.</summary>
public sealed class RespSessionFactory(RespServer server) : ISessionFactory
{
    public IProtocolSession Create(Connection connection)
    {
        server.Stats.Connection();
        var session = new RespSession(server, connection, server.Clients.NextId());
        server.Clients.Add(session);
        return session;
    }

    /// <summary>Redis's words, sent before the close.</summary>
    public ReadOnlySpan<byte> RejectionReply => "-ERR max number of clients reached\r\n"u8;

    public void Rejected() => server.Stats.Rejected();

    /// <summary>
    /// Redis's protected mode, decided afresh for each connection (an ACL change since the last one counts). Like
    /// Redis, the refusal counts in rejected_connections and not as a connection received.
    /// </summary>
    public ReadOnlySpan<byte> Refusal(EndPoint? remote)
    {
        if (!ProtectedMode.Refuses(server.Options, server.Acl, remote)) return default;
        server.Stats.Rejected();
        return ProtectedMode.DeniedReply;
    }
}
