namespace Pgrelay.Transport;

/// <summary>
/// A protocol's connection limit (Redis <c>maxclients</c>, memcached <c>maxconns</c>), shared by its listeners (plain
/// and TLS), taken when a socket is accepted and before any session is built.
/// </summary>
public sealed class ConnectionQuota(int maximum)
{
    private int _count;

    public int Maximum { get; } = maximum;
    public int Count => Volatile.Read(ref _count);

    public bool TryTake()
    {
        if (Interlocked.Increment(ref _count) <= Maximum) return true;
        Interlocked.Decrement(ref _count);
        return false;
    }

    public void Release() => Interlocked.Decrement(ref _count);
}
