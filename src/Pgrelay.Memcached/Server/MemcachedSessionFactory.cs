using Pgrelay.Memcached.Protocol;
using Pgrelay.Transport;

namespace Pgrelay.Memcached.Server;

/// <summary>The transport's way into the memcached protocol: one <see cref="MemcachedSession"/> per admitted connection.</summary>
public sealed class MemcachedSessionFactory(MemcachedServer server) : ISessionFactory
{
    public IProtocolSession Create(Connection connection)
    {
        Interlocked.Increment(ref server.Stats.TotalConnections);
        Interlocked.Increment(ref server.Stats.CurrentConnections);
        return new MemcachedSession(server, connection);
    }

    public ReadOnlySpan<byte> RejectionReply => Replies.TooManyConnections;

    public void Rejected() => Interlocked.Increment(ref server.Stats.RejectedConnections);
}
