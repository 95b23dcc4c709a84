namespace Pgrelay.Transport.Epoll;

/// <summary>
/// Work other threads ask of an event loop's object, as flags: posted to the loop once however many threads ask before it
/// runs (only the request that finds the set empty posts), and taken all at once on the loop thread.
/// </summary>
internal struct PendingWork
{
    private int _flags;

    /// <summary>Adds <paramref name="flag"/>; true when the set was empty, so the caller must post to the loop.</summary>
    public bool Add(int flag)
    {
        int old, updated;
        do
        {
            old = Volatile.Read(ref _flags);
            updated = old | flag;
            if (old == updated) return false;
        } while (Interlocked.CompareExchange(ref _flags, updated, old) != old);
        return old == 0;
    }

    /// <summary>On the loop thread: every flag asked for since the last take.</summary>
    public int TakeAll() => Interlocked.Exchange(ref _flags, 0);
}
