using System.Collections.Concurrent;

namespace Pgrelay.Resp.Server;

/// <summary>
/// Connected clients by id, for CLIENT LIST/KILL, tracking redirects and INFO. The maxclients limit itself is the
/// transport's (<see cref="RespServer.Quota"/>), checked before a session exists.
/// </summary>
public sealed class ClientRegistry
{
    private readonly ConcurrentDictionary<long, RespSession> _clients = new();
    private long _nextId;
    private int _count;

    public int Count => Volatile.Read(ref _count);

    public long NextId() => Interlocked.Increment(ref _nextId);

    public void Add(RespSession session)
    {
        if (_clients.TryAdd(session.Id, session)) Interlocked.Increment(ref _count);
    }

    public void Remove(RespSession session)
    {
        if (_clients.TryRemove(session.Id, out _)) Interlocked.Decrement(ref _count);
    }

    public RespSession? Find(long id) => _clients.GetValueOrDefault(id);

    public IEnumerable<RespSession> All => _clients.Values.OrderBy(c => c.Id);
}
