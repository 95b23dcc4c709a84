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
}
