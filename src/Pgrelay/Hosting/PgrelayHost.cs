using Microsoft.AspNetCore.Server.Kestrel.Core;
using Pgrelay.Configuration;
using Pgrelay.Core.Status;
using Pgrelay.Http;
using Pgrelay.Replication;
using Pgrelay.Store;
using Pgrelay.Store.Checkpoints;

namespace Pgrelay.Hosting;

/// <summary>
/// Wires one pgrelay process: the store, replication into it, HTTP on Kestrel, and the Redis and memcached
/// listeners on pgrelay's own transport (<see cref="CacheListeners"/>), which keeps their limits, TLS and graceful
/// shutdown in one place.
/// </summary>
public static class PgrelayHost
{
    public static WebApplication Build(PgrelaySettings settings, ReplicatedStore? store = null, ReplicationStatus? status = null) =>
        Build(PgrelayCore.Create(settings, store, status));

    /// <summary>The host around <paramref name="core"/>, whose replication may be running already (<see cref="PgrelayCore.StartEarly"/>).</summary>
    public static WebApplication Build(PgrelayCore core)
    {
        var settings = core.Settings;
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        // One logging for the process: replication logs before the host exists. The host disposes it.
        builder.Services.AddSingleton<ILoggerFactory>(_ => core.Loggers);

        builder.Services.AddSingleton(settings);
        builder.Services.AddSingleton(core);
        builder.Services.AddSingleton(core.Store);
        builder.Services.AddSingleton(core.Status);
        builder.Services.AddSingleton(core.ReplicationOptions);
        builder.Services.AddSingleton(core.Checkpoints);
        builder.Services.AddSingleton(core.Replication);
        builder.Services.AddHostedService<ReplicationWorker>();
        builder.Services.AddHostedService<StoreMaintenance>();
        builder.Services.AddHostedService<CheckpointWorker>();
        builder.Services.AddHostedService<SnapshotProgress>();
        builder.Services.AddPgrelayHttp();
        HttpsListener.AddServices(builder.Services, settings);
        ProtocolListeners.AddServices(builder.Services, settings);
        SinkHosting.AddServices(builder.Services, core.Sinks);

        if (settings.Http is not null || settings.Https is not null)
        {
            builder.WebHost.UseKestrel(kestrel =>
            {
                kestrel.AddServerHeader = false;
                if (settings.Http is { } http) kestrel.Listen(http.EndPoint, l => l.Protocols = HttpProtocols.Http1AndHttp2);
                HttpsListener.Listen(kestrel, settings);
            });
        }
        else builder.Services.AddSingleton<Microsoft.AspNetCore.Hosting.Server.IServer, NoHttpServer>();

        var app = builder.Build();
        app.MapPgrelayHttp();
        return app;
    }

    public static ReplicationOptions ReplicationOptionsFrom(PgrelaySettings settings) => new()
    {
        Source = settings.Source ?? "",
        Publications = settings.Publications,
        SlotName = settings.Slot,
        StateDirectory = settings.StateDirectory,
        PublicationPollInterval = settings.PublicationPoll,
        CopyParallelism = settings.CopyParallelism,
        HeartbeatInterval = settings.Heartbeat,
        SpillThresholdBytes = settings.SpillThresholdBytes,
        SpillDirectory = settings.SpillDirectory,
        SlotRetentionWarningBytes = settings.SlotRetentionWarningBytes,
        SourceWait = settings.SourceWait,
    };
}
