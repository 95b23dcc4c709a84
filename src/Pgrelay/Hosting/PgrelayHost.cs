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
    public static WebApplication Build(PgrelaySettings settings, ReplicatedStore? store = null, ReplicationStatus? status = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "HH:mm:ss ";
        });
        builder.Logging.SetMinimumLevel(Enum.Parse<LogLevel>(settings.LogLevel));
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        builder.Logging.AddFilter("Microsoft.Hosting", LogLevel.Warning);

        store ??= new ReplicatedStore();
        store.Feed.MaxRetainedBytes = settings.FeedMaxBytes;
        status ??= new ReplicationStatus();
        builder.Services.AddSingleton(settings);
        builder.Services.AddSingleton(store);
        builder.Services.AddSingleton(status);
        var sinks = SinkHosting.Settings(settings);
        var replicationOptions = ReplicationOptionsFrom(settings);
        SinkHosting.ConfigureReplication(replicationOptions, sinks);
        builder.Services.AddSingleton(replicationOptions);
        var checkpoints = new StoreCheckpoints(store, settings.StateDirectory, settings.CheckpointInterval, status.Checkpoints);
        status.Checkpoints.WalBytes = checkpoints.Enabled ? settings.CheckpointWalBytes : 0;
        builder.Services.AddSingleton(checkpoints);
        builder.Services.AddSingleton(sp => new ReplicationService(
            sp.GetRequiredService<ReplicationOptions>(), store, status, sp.GetRequiredService<ILoggerFactory>(), checkpoints));
        builder.Services.AddHostedService<ReplicationWorker>();
        builder.Services.AddHostedService<StoreMaintenance>();
        builder.Services.AddHostedService<NativeHeapRelease>();
        builder.Services.AddHostedService<CheckpointWorker>();
        builder.Services.AddHostedService<SnapshotProgress>();
        builder.Services.AddPgrelayHttp();
        HttpsListener.AddServices(builder.Services, settings);
        ProtocolListeners.AddServices(builder.Services, settings);
        SinkHosting.AddServices(builder.Services, sinks);

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
