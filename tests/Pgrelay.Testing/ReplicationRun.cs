using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Pgrelay.Core.Changes;
using Pgrelay.Core.Model;
using Pgrelay.Core.Status;
using Pgrelay.Replication;

namespace Pgrelay.Testing;

/// <summary>A <see cref="ReplicationService"/> running in the background against a test database, with wait helpers.</summary>
public sealed class ReplicationRun : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly PostgresHarness _harness;

    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(120);

    private ReplicationRun(PostgresHarness harness, string database, IReplicationTarget target, ReplicationService service,
        ReplicationStatus status)
    {
        _harness = harness;
        Database = database;
        Target = target;
        Service = service;
        Status = status;
    }

    public string Database { get; }
    public IReplicationTarget Target { get; }
    public ReplicationService Service { get; }
    public ReplicationStatus Status { get; }
    public Task Running { get; private set; } = Task.CompletedTask;

    public static ReplicationRun Start(PostgresHarness harness, string database, IReplicationTarget target,
        Action<ReplicationOptions>? configure = null, ILoggerFactory? loggers = null, params string[] publications) =>
        Start(harness, database, target, configure, loggers, null, publications);

    /// <summary>Starts with the store's checkpoints (made for the run's status, whose <c>Checkpoints</c> they report to).</summary>
    public static ReplicationRun Start(PostgresHarness harness, string database, IReplicationTarget target,
        Action<ReplicationOptions>? configure, ILoggerFactory? loggers, Func<ReplicationStatus, Core.Checkpoints.ICheckpointStore>? checkpoints,
        params string[] publications)
    {
        var options = new ReplicationOptions
        {
            Source = harness.Cluster.UrlFor(database),
            Publications = publications.Length == 0 ? ["pub"] : publications.ToList(),
            HeartbeatInterval = TimeSpan.FromSeconds(1),
            StatusInterval = TimeSpan.FromSeconds(1),
            ReconnectInitialDelay = TimeSpan.FromMilliseconds(200),
            ReconnectMaxDelay = TimeSpan.FromSeconds(2),
        };
        configure?.Invoke(options);
        var status = new ReplicationStatus();
        var service = new ReplicationService(options, target, status, loggers ?? NullLoggerFactory.Instance, checkpoints?.Invoke(status));
        var run = new ReplicationRun(harness, database, target, service, status);
        run.Running = Task.Run(() => service.RunAsync(run._stop.Token));
        return run;
    }

    /// <summary>Waits until the snapshot has been loaded and streaming began.</summary>
    public Task WaitForStreamingAsync() => WaitAsync(() => Status.Phase == ReplicationPhase.Streaming, "streaming to start");

    /// <summary>Waits until everything committed in the database before this call is applied to the target.</summary>
    public async Task SyncAsync()
    {
        var lsn = await _harness.SyncPointAsync(Database);
        await WaitAsync(() => Target.AppliedLsn >= lsn, $"the target to apply {lsn}");
    }

    /// <summary>
    /// Waits until everything committed before this call is applied and no table is being loaded beside the stream (a
    /// table added to the publication, or reshaped by DDL, is served once its load replaced it).
    /// </summary>
    public async Task SettleAsync()
    {
        await SyncAsync();
        await WaitAsync(() => Status.Reloads.Count == 0, "tables loading beside the stream to be loaded");
        await SyncAsync();
    }

    /// <summary>
    /// Waits until the publication watcher has looked at the catalog <paramref name="looks"/> more times: a publication or
    /// partition change made before this call has then been noticed (a fixed delay is not enough on a loaded machine).
    /// </summary>
    public Task WaitForPublicationChecksAsync(int looks = 2)
    {
        var target = Status.PublicationChecks + looks;
        return WaitAsync(() => Status.PublicationChecks >= target, $"{looks} more looks at the publications");
    }

    public async Task WaitAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + DefaultTimeout;
        while (!condition())
        {
            if (Running.IsCompleted) await Running; // surfaces the service's failure instead of a timeout
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"gave up waiting for {what}; phase {Status.Phase}, last error: {Status.LastError}");
            await Task.Delay(20);
        }
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        try { await Running; } catch (OperationCanceledException) { }
        _stop.Dispose();
    }
}
