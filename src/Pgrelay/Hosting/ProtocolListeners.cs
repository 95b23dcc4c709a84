using Pgrelay.Configuration;
using Pgrelay.Http.Status;
using Pgrelay.Memcached;
using Pgrelay.Memcached.Server;
using Pgrelay.Resp;
using Pgrelay.Resp.Server;

namespace Pgrelay.Hosting;

/// <summary>
/// The Redis and memcached servers and their listeners. They run on pgrelay's own transport (Pgrelay.Transport), not
/// Kestrel, which keeps only HTTP. Each protocol's options are validated here, before any port opens.
/// </summary>
internal static class ProtocolListeners
{
    public static void AddServices(IServiceCollection services, PgrelaySettings settings)
    {
        if (RespOptionsFrom(settings) is { } resp)
        {
            Guard(() => services.AddPgrelayResp(resp));
            services.AddSingleton<IProtocolConnectionCounter>(sp =>
                new ProtocolConnectionCounter("redis", () => sp.GetRequiredService<RespServer>().ConnectedClients));
        }
        if (MemcachedOptionsFrom(settings) is { } memcached)
        {
            Guard(() => services.AddPgrelayMemcached(memcached));
            services.AddSingleton<IProtocolConnectionCounter>(sp =>
                new ProtocolConnectionCounter("memcached", () => sp.GetRequiredService<MemcachedServer>().ConnectedClients));
        }
        // TLS listeners take their certificates from the reloader HttpsListener registers for every TLS listener.
        if (settings.Resp is not null || settings.Memcached is not null || settings.MemcachedTls is not null) services.AddHostedService<CacheListeners>();
    }

    /// <summary>Checks every protocol's settings (and loads the ACL file) without registering anything: run before preflight.</summary>
    public static void Validate(PgrelaySettings settings)
    {
        Guard(() => RespOptionsFrom(settings)?.Validate());
        Guard(() => MemcachedOptionsFrom(settings)?.Validate());
    }

    public static RespOptions? RespOptionsFrom(PgrelaySettings settings) => settings.Resp is not { } address ? null : new RespOptions
    {
        BindAddress = address.Address,
        Port = address.Port,
        Password = settings.RespPassword,
        AclFile = settings.AclFile,
        ProtectedMode = settings.ProtectedMode,
        MaxClients = settings.Limits.MaxClients,
        IdleTimeout = settings.Limits.Timeout,
        QueryBufferLimit = settings.Limits.ClientQueryBufferLimit,
        ProtoMaxBulkLength = settings.Limits.ProtoMaxBulkLen,
        OutputLimitNormal = settings.Limits.OutputNormal,
        OutputLimitPubSub = settings.Limits.OutputPubSub,
    };

    public static MemcachedOptions? MemcachedOptionsFrom(PgrelaySettings settings) =>
        (settings.Memcached ?? settings.MemcachedTls) is not { } address ? null : new MemcachedOptions
        {
            BindAddress = address.Address,
            Port = address.Port,
            MaxConnections = settings.Limits.MaxConns,
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
