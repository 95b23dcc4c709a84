namespace Pgrelay.Http.Status;

/// <summary>Open server-sent change streams: the HTTP room's own entry in the clients-per-protocol list.</summary>
public sealed class SseConnectionCounter : IProtocolConnectionCounter
{
    private long _open;

    public string Protocol => "http-sse";
    public long OpenConnections => Interlocked.Read(ref _open);

    /// <summary>Counts one stream until the returned handle is disposed.</summary>
    public IDisposable Open()
    {
        Interlocked.Increment(ref _open);
        return new Closer(this);
    }

    private sealed class Closer(SseConnectionCounter counter) : IDisposable
    {
        private int _closed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _closed, 1) == 0) Interlocked.Decrement(ref counter._open);
        }
    }
}
