using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Pgrelay.Transport.Epoll;

namespace Pgrelay.Transport;

/// <summary>
/// The event loop threads connections run on (plain and TLS), shared by every listener of the process. Accepted
/// sockets are dealt to the loops in turn. Linux only (<see cref="IsSupported"/>); elsewhere listeners fall back to
/// .NET's asynchronous streams.
/// </summary>
public sealed class EventLoopGroup : IDisposable
{
    private readonly EventLoop[] _loops;
    private int _next;

    public EventLoopGroup(int threads, ILogger? logger = null)
    {
        if (!IsSupported) throw new PlatformNotSupportedException("event loops need Linux epoll");
        if (threads < 1) throw new ArgumentOutOfRangeException(nameof(threads));
        _loops = new EventLoop[threads];
        for (int i = 0; i < threads; i++) _loops[i] = new EventLoop(i, logger ?? NullLogger.Instance);
    }

    public static bool IsSupported => Native.IsSupported;

    /// <summary>
    /// One loop per two cores, at most four: a round trip is mostly kernel time, and the clients, PostgreSQL's stream
    /// and the rest of the process need cores too. On two cores that is one loop, as redis-server has: a second loop
    /// there measured the same CPU per request but three times the context switches and a worse unpipelined latency,
    /// competing with the clients for the cores instead of batching more ready sockets per epoll_wait.
    /// </summary>
    public static int DefaultThreads => Math.Clamp(Environment.ProcessorCount / 2, 1, 4);

    public int Threads => _loops.Length;

    internal EventLoop Next() => _loops[(int)((uint)Interlocked.Increment(ref _next) % (uint)_loops.Length)];

    public void Dispose()
    {
        foreach (var loop in _loops) loop.Dispose();
    }
}
