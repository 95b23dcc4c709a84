using Microsoft.AspNetCore.Server.Kestrel.Core;
using Pgrelay.Configuration;

namespace Pgrelay.Hosting;

/// <summary>The Redis and memcached listeners: Kestrel connection handlers next to HTTP.</summary>
internal static class ProtocolListeners
{
    public static void AddServices(IServiceCollection services, PgrelaySettings settings)
    {
    }

    public static void Listen(KestrelServerOptions kestrel, PgrelaySettings settings)
    {
    }
}
