using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Pgrelay.Configuration;
using Pgrelay.Http.Status;
using Pgrelay.Memcached;
using Pgrelay.Memcached.Server;
using Pgrelay.Resp;
using Pgrelay.Resp.Server;

namespace Pgrelay.Hosting;

/// <summary>
/// The Redis and memcached listeners: Kestrel connection handlers next to HTTP, so limits and graceful
/// shutdown come from one server. Each protocol's options are validated here, before any port opens.
/// </summary>
internal static class ProtocolListeners
{
    public static void AddServices(IServiceCollection services, PgrelaySettings settings)
    {
        var inline = new HashSet<System.Net.IPEndPoint>();
        if (RespOptionsFrom(settings) is { } resp)
        {
            Guard(() => services.AddPgrelayResp(resp));
            services.AddSingleton<IProtocolConnectionCounter>(sp =>
                new ProtocolConnectionCounter("redis", () => sp.GetRequiredService<RespServer>().ConnectedClients));
            inline.Add(settings.Resp!.EndPoint);
        }
        if (MemcachedOptionsFrom(settings) is { } memcached)
        {
            Guard(() => services.AddPgrelayMemcached(memcached));
            services.AddSingleton<IProtocolConnectionCounter>(sp =>
                new ProtocolConnectionCounter("memcached", () => sp.GetRequiredService<MemcachedServer>().ConnectedClients));
            inline.Add(settings.Memcached!.EndPoint);
        }
        if (inline.Count > 0)
        {
            services.AddSingleton(new InlineEndpoints(inline));
            services.AddSingleton<IConnectionListenerFactory, InlineTransportFactory>();
        }
    }

    /// <summary>Checks every protocol's settings (and loads the ACL file) without registering anything: run before preflight.</summary>
    public static void Validate(PgrelaySettings settings)
    {
        Guard(() => RespOptionsFrom(settings)?.Validate());
        Guard(() => MemcachedOptionsFrom(settings)?.Validate());
    }

    public static void Listen(KestrelServerOptions kestrel, PgrelaySettings settings)
    {
        if (settings.Resp is { } resp) kestrel.Listen(resp.EndPoint, l => l.UseConnectionHandler<RespConnectionHandler>());
        if (settings.Memcached is { } memcached) kestrel.Listen(memcached.EndPoint, l => l.UseConnectionHandler<MemcachedConnectionHandler>());
    }

    public static RespOptions? RespOptionsFrom(PgrelaySettings settings) => settings.Resp is not { } address ? null : new RespOptions
    {
        BindAddress = address.Address,
        Port = address.Port,
        Password = settings.RespPassword,
        AclFile = settings.AclFile,
        ProtectedMode = settings.ProtectedMode,
    };

    public static MemcachedOptions? MemcachedOptionsFrom(PgrelaySettings settings) => settings.Memcached is not { } address ? null : new MemcachedOptions
    {
        BindAddress = address.Address,
        Port = address.Port,
    };

    /// <summary>A protocol's own validation (an unreadable ACL file, a bad limit) is a settings error: one line, exit 2.</summary>
    private static void Guard(Action register)
    {
        try
        {
            register();
        }
        catch (InvalidOperationException e)
        {
            throw new SettingsException(e.Message);
        }
    }
}
