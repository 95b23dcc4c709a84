using System.Collections.Concurrent;

namespace Pgrelay.Resp.Server;

/// <summary>Connected clients by id, for CLIENT LIST/KILL, tracking redirects and the max-clients limit.</summary>
public sealed class ClientRegistry(int maxClients)
{
    private readonly ConcurrentDictionary<long, RespSession> _clients = new();
    private long _nextId;
    private int _count;

    public int Count => Volatile.Read(ref _count);

    public long NextId() => Interlocked.Increment(ref _nextId);

    /// <summary>Reserves a place; false when the server is full.</summary>
    public bool TryReserve()
    {
        if (Interlocked.Increment(ref _count) <= maxClients) return true;
        Interlocked.Decrement(ref _count);
        return false;
    }

    public void Add(RespSession session) => _clients[session.Id] = session;

    public void Remove(RespSession session)
    {
        if (_clients.TryRemove(session.Id, out _)) Interlocked.Decrement(ref _count);
    }

    /// <summary>Gives back a reservation that never became a session.</summary>
    public void Unreserve() => Interlocked.Decrement(ref _count);

    public RespSession? Find(long id) => _clients.GetValueOrDefault(id);

    public IEnumerable<RespSession> All => _clients.Values.OrderBy(c => c.Id);
}
