using Pgrelay.Configuration;
using Pgrelay.Core.Status;
using Pgrelay.Replication;
using Pgrelay.Sinks.Configuration;
using Pgrelay.Store;
using Pgrelay.Store.Checkpoints;

namespace Pgrelay.Hosting;

/// <summary>
/// What one pgrelay process holds before its host exists: the store, its checkpoints, the status, logging, and replication
/// into the store. Made first so that replication's start-up (the source checks, the checkpoint load or the snapshot copy)
/// can run beside the host's build and start (<see cref="StartEarly"/>), which take most of a fresh process's first half
/// second; the host then wires these same objects (<see cref="PgrelayHost.Build(PgrelayCore)"/>).
/// </summary>
public sealed class PgrelayCore
{
    private readonly TaskCompletionSource _serving = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _stop = new();
    private Task? _early;

    private PgrelayCore(PgrelaySettings settings, ReplicatedStore store, ReplicationStatus status, SinkSettings sinks,
        ReplicationOptions replicationOptions, StoreCheckpoints checkpoints, ILoggerFactory loggers)
    {
        Settings = settings;
        Store = store;
        Status = status;
        Sinks = sinks;
        ReplicationOptions = replicationOptions;
        Checkpoints = checkpoints;
        Loggers = loggers;
        Replication = new ReplicationService(replicationOptions, store, status, loggers, checkpoints);
    }

    public PgrelaySettings Settings { get; }
    public ReplicatedStore Store { get; }
    public ReplicationStatus Status { get; }
    public SinkSettings Sinks { get; }
    public ReplicationOptions ReplicationOptions { get; }
    public StoreCheckpoints Checkpoints { get; }
    /// <summary>The process's logging; the host uses it too (and disposes it with itself).</summary>
    public ILoggerFactory Loggers { get; }
    public ReplicationService Replication { get; }

    public static PgrelayCore Create(PgrelaySettings settings, ReplicatedStore? store = null, ReplicationStatus? status = null)
    {
        var sinks = SinkHosting.Settings(settings);
        var replicationOptions = PgrelayHost.ReplicationOptionsFrom(settings);
        SinkHosting.ConfigureReplication(replicationOptions, sinks);
        store ??= new ReplicatedStore();
        store.Feed.MaxRetainedBytes = settings.FeedMaxBytes;
        status ??= new ReplicationStatus();
        var checkpoints = new StoreCheckpoints(store, settings.StateDirectory, settings.CheckpointInterval, status.Checkpoints);
        status.Checkpoints.WalBytes = checkpoints.Enabled ? settings.CheckpointWalBytes : 0;
        return new PgrelayCore(settings, store, status, sinks, replicationOptions, checkpoints, CreateLoggers(settings));
    }

    private static ILoggerFactory CreateLoggers(PgrelaySettings settings) => LoggerFactory.Create(logging =>
    {
        logging.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "HH:mm:ss ";
        });
        logging.SetMinimumLevel(Enum.Parse<LogLevel>(settings.LogLevel));
        logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        logging.AddFilter("Microsoft.Hosting", LogLevel.Warning);
    });

    /// <summary>
    /// Starts replication now, before the host is built, from <paramref name="preflight"/> (still running): the start-up goes
    /// as far as it can while the host builds and starts; streaming (and the "serving" line) waits for <see cref="Serving"/>,
    /// so that every subscriber and sink the host registers sees every change. The host's <see cref="ReplicationWorker"/>
    /// then joins this run instead of starting one.
    /// </summary>
    public void StartEarly(Task<PreflightResult> preflight)
    {
        Replication.UsePreflight(preflight);
        _early = Task.Run(() => Replication.RunAsync(_stop.Token, _serving.Task));
    }

    /// <summary>The host has started: its listeners are open, its subscribers registered.</summary>
    public void Serving() => _serving.TrySetResult();

    /// <summary>Runs replication until <paramref name="stoppingToken"/> is cancelled: the run <see cref="StartEarly"/> began,
    /// or a new one.</summary>
    internal async Task RunAsync(CancellationToken stoppingToken)
    {
        if (_early is null)
        {
            await Replication.RunAsync(stoppingToken).ConfigureAwait(false);
            return;
        }
        await using var stop = stoppingToken.Register(() => _stop.Cancel());
        await _early.ConfigureAwait(false);
    }

    /// <summary>Stops a run begun by <see cref="StartEarly"/> when the host never got to join it (its build or start failed).
    /// The run's own failure, if any, is not reported here: the caller reports its own.</summary>
    public async Task StopEarlyAsync()
    {
        if (_early is null) return;
        await _stop.CancelAsync().ConfigureAwait(false);
        await _early.ContinueWith(static t => _ = t.Exception, TaskScheduler.Default).ConfigureAwait(false);
    }
}
