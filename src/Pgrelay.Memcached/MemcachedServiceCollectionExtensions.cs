using Microsoft.Extensions.DependencyInjection;
using Pgrelay.Memcached.Server;

namespace Pgrelay.Memcached;

public static class MemcachedServiceCollectionExtensions
{
    /// <summary>
    /// Registers the memcached-protocol server. The host also registers <see cref="Store.ReplicatedStore"/> as a
    /// singleton and listens with a <see cref="Transport.TransportListener"/> built from <see cref="MemcachedServer.Sessions"/>,
    /// <see cref="MemcachedServer.Quota"/> and <see cref="MemcachedServer.ConnectionLimits"/>.
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
