using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Http.Features;

namespace Pgrelay.Hosting;

/// <summary>
/// The web host's server when HTTP is off (<c>--http off</c>): the Redis and memcached listeners are pgrelay's own,
/// so Kestrel would have nothing to serve, and with no endpoint it would bind its default port instead.
/// </summary>
internal sealed class NoHttpServer : IServer
{
    public IFeatureCollection Features { get; } = new FeatureCollection();

    public Task StartAsync<TContext>(IHttpApplication<TContext> application, CancellationToken cancellationToken) where TContext : notnull => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public void Dispose()
    {
    }
}
