using Microsoft.Extensions.DependencyInjection;
using Pgrelay.Memcached.Server;

namespace Pgrelay.Memcached;

public static class MemcachedServiceCollectionExtensions
{
    /// <summary>
    /// Registers the memcached-protocol server. The host also registers <see cref="Store.ReplicatedStore"/> as a
    /// singleton and listens with <c>kestrel.Listen(options.EndPoint, l =&gt; l.UseConnectionHandler&lt;MemcachedConnectionHandler&gt;())</c>.
    /// Scheduling (inline on the socket thread, as pgrelay runs it) is the host's choice of transport, not this room's.
    /// </summary>
    public static IServiceCollection AddPgrelayMemcached(this IServiceCollection services, MemcachedOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        services.AddSingleton(options);
        services.AddSingleton<MemcachedServer>();
        return services;
    }
}
