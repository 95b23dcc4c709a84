using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Pgrelay.Memcached;

/// <summary>
/// Gives the memcached listener a socket transport of its own that runs each connection's work inline on the thread
/// that completed the socket operation (<see cref="SocketTransportOptions.UnsafePreferInlineScheduling"/>), and binds
/// every other endpoint (HTTP, Redis) with the host's own socket settings.
/// <para>
/// Why: a memcached request is a few microseconds of work, and with Kestrel's default scheduling each round trip
/// also pays three thread-pool hand-offs (socket completion, application, send), which cost several times the request
/// itself and halved unpipelined throughput against memcached. Inline is safe here and only here because the
/// memcached session never blocks: store reads are lock-free, and it waits only by awaiting the pipes. HTTP handlers
/// give no such promise, so the rest of the server keeps the default.
/// </para>
/// Kestrel asks its transport factories last-registered first; this one answers for every endpoint, so it works
/// whether it was registered before or after Kestrel's own socket transport.
/// </summary>
internal sealed class MemcachedTransportFactory : IConnectionListenerFactory, IConnectionListenerFactorySelector
{
    private readonly IPEndPoint _memcached;
    private readonly SocketTransportFactory _inline;
    private readonly SocketTransportFactory _others;

    public MemcachedTransportFactory(MemcachedOptions options, IOptions<SocketTransportOptions> host, ILoggerFactory loggers)
    {
        _memcached = options.EndPoint;
        _others = new SocketTransportFactory(host, loggers);
        var inline = Copy(host.Value);
        inline.UnsafePreferInlineScheduling = true;
        _inline = new SocketTransportFactory(Options.Create(inline), loggers);
    }

    public bool CanBind(EndPoint endpoint) => true;

    public ValueTask<IConnectionListener> BindAsync(EndPoint endpoint, CancellationToken cancellationToken = default) =>
        (IsMemcached(endpoint) ? _inline : _others).BindAsync(endpoint, cancellationToken);

    private bool IsMemcached(EndPoint endpoint) => endpoint is IPEndPoint ip && ip.Equals(_memcached);

    private static SocketTransportOptions Copy(SocketTransportOptions from) => new()
    {
        IOQueueCount = from.IOQueueCount,
        WaitForDataBeforeAllocatingBuffer = from.WaitForDataBeforeAllocatingBuffer,
        NoDelay = from.NoDelay,
        Backlog = from.Backlog,
        MaxReadBufferSize = from.MaxReadBufferSize,
        MaxWriteBufferSize = from.MaxWriteBufferSize,
        CreateBoundListenSocket = from.CreateBoundListenSocket,
    };
}
