using Microsoft.Extensions.DependencyInjection;
using Pgrelay.Resp.Server;

namespace Pgrelay.Resp;

public static class RespServiceCollectionExtensions
{
    /// <summary>
    /// Registers the Redis-protocol server. The host also registers <see cref="Store.ReplicatedStore"/> and
    /// <see cref="Core.Status.ReplicationStatus"/> as singletons, and listens with a <see cref="Transport.TransportListener"/>
    /// built from <see cref="RespServer.Sessions"/>, <see cref="RespServer.Quota"/> and <see cref="RespOptions.ConnectionLimits"/>.
    /// </summary>
    public static IServiceCollection AddPgrelayResp(this IServiceCollection services, RespOptions options)
    {
        options.Validate();
        services.AddSingleton(options);
        services.AddSingleton<RespServer>();
        return services;
    }
}
