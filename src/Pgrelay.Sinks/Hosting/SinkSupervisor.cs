using Microsoft.Extensions.Logging;
using Pgrelay.Sinks.Configuration;
using Pgrelay.Sinks.Delivery;
using Pgrelay.Sinks.Rules;
using Pgrelay.Sinks.Targets;
using Pgrelay.Store;

namespace Pgrelay.Sinks.Hosting;

/// <summary>
/// Owns every configured sink. Constructing it registers each sink's durable consumer at its checkpoint, so it must
/// exist before replication confirms anything (the hosted service depends on it; hosts resolve it before starting).
/// Each sink runs on its own task: one stuck or failing sink delays only itself, and never the store's readers.
/// </summary>
public sealed class SinkSupervisor : IAsyncDisposable
{
    private readonly ILogger _log;
    private readonly List<SinkRunner> _runners = [];

    /// <param name="confirmedLsn">Replication's confirmed position (ReplicationStatus.ConfirmedLsn): lets idle sinks follow an idle slot.</param>
    /// <param name="idleLsn">Where replication was last idle with nothing pending (ReplicationStatus.IdleLsn): tells that a replay is complete.</param>
    public SinkSupervisor(SinkSettings settings, ReplicatedStore store, ILoggerFactory loggers, Func<Core.Model.Lsn>? confirmedLsn = null,
        Func<SinkDefinition, ISinkTarget>? targets = null, Func<Core.Model.Lsn>? idleLsn = null)
    {
        _log = loggers.CreateLogger("Pgrelay.Sinks");
        var checkpoints = new CheckpointStore(settings.StateDirectory);
        foreach (var sink in settings.Sinks)
        {
            var target = targets?.Invoke(sink) ?? SinkTargets.Create(sink, store);
            _runners.Add(new SinkRunner(sink, target, RuleSet.For(sink.Name, settings.Rules), store, checkpoints, _log)
            {
                RetryInitialDelay = settings.RetryInitialDelay,
                RetryMaxDelay = settings.RetryMaxDelay,
                ConfirmedLsn = confirmedLsn,
                IdleLsn = idleLsn,
            });
        }
    }

    public IReadOnlyList<SinkRunner> Runners => _runners;

    /// <summary>Every sink's current figures (name, type, acknowledged LSN, state, counts, last error).</summary>
    public IReadOnlyList<SinkStatusRecord> Statuses => _runners.Select(r => SinkStatusRecord.From(r.Status)).ToList();

    /// <summary>The lowest acknowledged end LSN across sinks (null without sinks).</summary>
    public Core.Model.Lsn? SlowestAcknowledged => _runners.Count == 0 ? null : _runners.Min(r => r.Status.CheckpointLsn);

    public async Task RunAsync(CancellationToken ct)
    {
        if (_runners.Count == 0) return;
        _log.LogInformation("sinks: {Sinks}", string.Join(", ", _runners.Select(r => r.Definition.ToString())));
        await Task.WhenAll(_runners.Select(r => Task.Run(() => KeepRunningAsync(r, ct), ct))).ConfigureAwait(false);
    }

    /// <summary>Delivery problems are retried inside the runner; anything else (a bug, a damaged checkpoint) restarts it after a pause.</summary>
    private async Task KeepRunningAsync(SinkRunner runner, CancellationToken ct)
    {
        var backoff = new Backoff(TimeSpan.FromSeconds(1), TimeSpan.FromMinutes(1));
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await runner.RunAsync(ct).ConfigureAwait(false);
                return;
            }
            catch (Exception e) when (!ct.IsCancellationRequested)
            {
                runner.Status.Failed(e.Message.Split('\n')[0]);
                runner.Status.State = SinkState.Failed;
                var delay = backoff.Next();
                _log.LogError(e, "sink {Sink} failed: {Error}; restarting it in {Delay:0}s", runner.Definition.Name, e.Message, delay.TotalSeconds);
                try { await Task.Delay(delay, ct).ConfigureAwait(false); }
                catch (OperationCanceledException) { return; }
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var runner in _runners) await runner.DisposeAsync().ConfigureAwait(false);
        _runners.Clear();
    }
}
