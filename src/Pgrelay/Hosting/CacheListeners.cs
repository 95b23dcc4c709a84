using System.Net;
using System.Net.Sockets;
using Pgrelay.Configuration;
using Pgrelay.Memcached.Server;
using Pgrelay.Resp.Server;
using Pgrelay.Transport;
using Pgrelay.Transport.Tls;

namespace Pgrelay.Hosting;

/// <summary>
/// Opens the Redis and memcached listeners (plain, and TLS where configured) on pgrelay's transport when the host
/// starts, and closes them when it stops: idle clients at once, busy ones after the requests they already sent.
/// Plain connections share the event loops; TLS connections run on .NET's streams.
/// </summary>
internal sealed class CacheListeners(IServiceProvider services, PgrelaySettings settings, ILoggerFactory loggers) : IHostedService
{
    private readonly List<TransportListener> _listeners = [];
    private EventLoopGroup? _loops;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        var logger = loggers.CreateLogger("Pgrelay.Transport");
        if (EventLoopGroup.IsSupported) _loops = new EventLoopGroup(IoThreads(settings.Limits.IoThreads), logger);
        // Every TLS listener (HTTPS too) shares one reloader; each handshake takes its current certificate set.
        var reloader = services.GetService<TlsCertificateReloader>();
        TlsEndpointOptions? tls = reloader is null ? null : new TlsEndpointOptions { ServerOptions = () => reloader.Current.ServerOptions() };
        if (settings.Resp is { } resp)
        {
            var server = services.GetRequiredService<RespServer>();
            var limits = server.Options.ConnectionLimits;
            _listeners.Add(new TransportListener(new ListenerOptions(resp.EndPoint) { Limits = limits, Name = "redis" }, server.Sessions, server.Quota, _loops, logger));
            if (settings.TlsPort != 0)
            {
                var endPoint = new IPEndPoint(resp.Address, settings.TlsPort);
                _listeners.Add(new TransportListener(new ListenerOptions(endPoint) { Limits = limits, Name = "redis-tls", Tls = tls },
                    server.Sessions, server.Quota, _loops, logger));
            }
        }
        if (settings.Memcached is not null || settings.MemcachedTls is not null)
        {
            var server = services.GetRequiredService<MemcachedServer>();
            if (settings.Memcached is { } plain)
                _listeners.Add(new TransportListener(new ListenerOptions(plain.EndPoint) { Limits = server.ConnectionLimits, Name = "memcached" }, server.Sessions, server.Quota, _loops, logger));
            if (settings.MemcachedTls is { } secure)
                _listeners.Add(new TransportListener(new ListenerOptions(secure.EndPoint) { Limits = server.ConnectionLimits, Name = "memcached-tls", Tls = tls },
                    server.Sessions, server.Quota, _loops, logger));
        }
        foreach (var listener in _listeners)
        {
            try
            {
                listener.Start();
            }
            catch (SocketException e)
            {
                // The command line turns this into one line ("cannot listen: ..."), as for HTTP.
                throw new IOException($"{listener.Options.Name} on {listener.Options.EndPoint}: {e.Message}", e);
            }
            logger.LogInformation("{Listener} listening on {EndPoint}", listener.Options.Name, listener.LocalEndPoint);
        }
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await Task.WhenAll(_listeners.Select(l => l.StopAsync(cancellationToken)));
        _loops?.Dispose();
    }

    /// <summary>Default: one event loop per two cores, at most four (<see cref="EventLoopGroup.DefaultThreads"/>).</summary>
    internal static int IoThreads(int configured) => configured > 0 ? configured : EventLoopGroup.DefaultThreads;
}
