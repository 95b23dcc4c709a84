using System.Net;
using Pgrelay.Transport;
using Pgrelay.Transport.Tls;

namespace Pgrelay.Testing;

/// <summary>
/// A protocol served the way pgrelay serves it: a <see cref="TransportListener"/> on a free loopback port, with an event
/// loop of its own (plain or TLS), stopped and disposed with the test.
/// </summary>
public sealed class TestListener : IAsyncDisposable
{
    private readonly EventLoopGroup? _loops;
    private int _disposed;

    private TestListener(TransportListener listener, EventLoopGroup? loops, ListLoggerFactory logs)
    {
        Listener = listener;
        _loops = loops;
        Logs = logs;
    }

    public TransportListener Listener { get; }

    /// <summary>What the transport logged (a fault in a session shows here with its exception).</summary>
    public ListLoggerFactory Logs { get; }
    public int Port => Listener.LocalEndPoint.Port;

    /// <param name="streams">Run connections on .NET streams instead of an event loop (the fallback elsewhere than Linux).</param>
    /// <param name="address">Where to listen (loopback unless a test needs clients from this machine's other addresses).</param>
    public static TestListener Start(ISessionFactory sessions, ConnectionQuota quota, ConnectionLimits limits, TlsEndpointOptions? tls = null, bool streams = false,
        IPAddress? address = null)
    {
        var logs = new ListLoggerFactory();
        var logger = logs.CreateLogger("Pgrelay.Transport");
        var loops = !streams ? new EventLoopGroup(1, logger) : null;
        var listener = new TransportListener(new ListenerOptions(new IPEndPoint(address ?? IPAddress.Loopback, 0)) { Limits = limits, Tls = tls, Name = "test" }, sessions, quota, loops, logger);
        listener.Start();
        return new TestListener(listener, loops, logs);
    }

    /// <summary>Stops as the host does: idle connections end at once, requests already read are answered.</summary>
    public Task StopAsync(CancellationToken cancellationToken = default) => Listener.StopAsync(cancellationToken);

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        using (var bound = new CancellationTokenSource(TimeSpan.FromSeconds(10))) await Listener.StopAsync(bound.Token);
        _loops?.Dispose();
    }
}
