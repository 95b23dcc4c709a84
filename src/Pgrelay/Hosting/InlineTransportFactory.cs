using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.Options;

namespace Pgrelay.Hosting;

/// <summary>
/// Socket transport for the whole server that runs the Redis and memcached listeners' connections inline on the
/// thread that completed the socket operation (<see cref="SocketTransportOptions.UnsafePreferInlineScheduling"/>),
/// and every other endpoint (HTTP) with the host's normal settings.
/// <para>
/// Why: a cache read is a few microseconds; with default scheduling each round trip also pays thread-pool hand-offs
/// (socket completion, application, send) that cost several times the request, which is what kept unpipelined
/// throughput below redis-server and memcached. Inline is safe for those two protocols only: their sessions never
/// block (store reads are lock-free; they wait only by awaiting pipes). HTTP handlers make no such promise.
/// Kestrel asks transport factories last-registered first and this one answers for every endpoint.
/// </para>
/// </summary>
internal sealed class InlineTransportFactory : IConnectionListenerFactory, IConnectionListenerFactorySelector
{
    private readonly IReadOnlySet<IPEndPoint> _inlineEndpoints;
    private readonly SocketTransportFactory _inline;
    private readonly SocketTransportFactory _others;

    public InlineTransportFactory(InlineEndpoints endpoints, IOptions<SocketTransportOptions> host, ILoggerFactory loggers)
    {
        _inlineEndpoints = endpoints.Set;
        _others = new SocketTransportFactory(host, loggers);
        var h = host.Value;
        _inline = new SocketTransportFactory(Options.Create(new SocketTransportOptions
        {
            IOQueueCount = h.IOQueueCount,
            WaitForDataBeforeAllocatingBuffer = h.WaitForDataBeforeAllocatingBuffer,
            NoDelay = h.NoDelay,
            Backlog = h.Backlog,
            MaxReadBufferSize = h.MaxReadBufferSize,
            MaxWriteBufferSize = h.MaxWriteBufferSize,
            CreateBoundListenSocket = h.CreateBoundListenSocket,
            UnsafePreferInlineScheduling = true,
        }), loggers);
    }

    public bool CanBind(EndPoint endpoint) => true;

    public ValueTask<IConnectionListener> BindAsync(EndPoint endpoint, CancellationToken cancellationToken = default) =>
        (endpoint is IPEndPoint ip && _inlineEndpoints.Contains(ip) ? _inline : _others).BindAsync(endpoint, cancellationToken);
}

/// <summary>The endpoints whose connections run inline (see <see cref="InlineTransportFactory"/>).</summary>
internal sealed record InlineEndpoints(IReadOnlySet<IPEndPoint> Set);
