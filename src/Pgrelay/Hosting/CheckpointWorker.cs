using Pgrelay.Configuration;
using Pgrelay.Core.Model;
using Pgrelay.Store;
using Pgrelay.Store.Checkpoints;

namespace Pgrelay.Hosting;

/// <summary>
/// Writes the store's checkpoints while pgrelay runs (with a state directory): every <c>checkpoint-interval</c>, sooner once
/// <c>checkpoint-wal</c> bytes of WAL were applied since the last one (a restart then replays at most about that much), and
/// a last one at a graceful stop, so that the next start resumes where this one stopped instead of streaming again what
/// came after the last interval. A failed write is logged and tried again later; the slot stays held at the last valid
/// checkpoint meanwhile.
/// </summary>
internal sealed class CheckpointWorker(StoreCheckpoints checkpoints, ReplicatedStore store, PgrelaySettings settings, ILogger<CheckpointWorker> log)
    : BackgroundService
{
    /// <summary>How often the WAL applied since the last checkpoint is looked at.</summary>
    private static readonly TimeSpan WalPoll = TimeSpan.FromSeconds(1);

    /// <summary>At a stop, how long a written checkpoint may wait for a sink's acknowledgement: sinks stop before this
    /// worker, so one that is behind will not catch up, and the stop should not wait for the host's whole timeout.</summary>
    private static readonly TimeSpan FinalConsumerWait = TimeSpan.FromSeconds(2);

    private string? _lastError;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!checkpoints.Enabled) return;
        long walBytes = settings.CheckpointWalBytes;
        var poll = walBytes > 0 && WalPoll < checkpoints.Interval ? WalPoll : checkpoints.Interval;
        using var timer = new PeriodicTimer(poll);
        var lastAttempt = DateTime.UtcNow;
        // WAL is counted from the data the store started with (a loaded checkpoint's K, a snapshot's consistent point), and
        // then from each checkpoint written.
        var since = Lsn.Zero;
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                // Not the visible LSN at this tick: what was applied between the start and the first tick counts too.
                if (since == Lsn.Zero && store.IsReady) since = store.StartLsn;
                bool byInterval = DateTime.UtcNow - lastAttempt >= checkpoints.Interval - TimeSpan.FromMilliseconds(10);
                bool byWal = walBytes > 0 && since != Lsn.Zero && store.VisibleLsn.Value - Math.Min(since.Value, store.VisibleLsn.Value) >= (ulong)walBytes;
                if (!byInterval && !byWal) continue;
                lastAttempt = DateTime.UtcNow;
                if (await WriteAsync(byWal ? "WAL applied" : "interval", stoppingToken) is { } written) since = written;
                else if (byWal) since = store.VisibleLsn;   // not now (a load is running...): count again from here
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);   // ends the loop (and a write it had started): one write at a time
        if (!checkpoints.Enabled || !store.IsReady) return;
        // Replication still applies (it stops after this worker); the checkpoint holds everything up to the moment it is taken.
        using var bound = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var consumers = Task.Run(async () =>
        {
            // A checkpoint waiting on a sink that stopped behind it would wait for the host's timeout: give up instead.
            var waitingSince = DateTime.MaxValue;
            while (!bound.IsCancellationRequested)
            {
                if (checkpoints.Status.State == "waiting-for-consumers")
                {
                    if (waitingSince == DateTime.MaxValue) waitingSince = DateTime.UtcNow;
                    else if (DateTime.UtcNow - waitingSince > FinalConsumerWait) await bound.CancelAsync();
                }
                else waitingSince = DateTime.MaxValue;
                await Task.Delay(50, CancellationToken.None);
            }
        }, CancellationToken.None);
        try
        {
            await WriteAsync("stop", bound.Token);
        }
        catch (OperationCanceledException)
        {
            log.LogWarning("no checkpoint at stop: {Reason}; the next start resumes from the last one",
                cancellationToken.IsCancellationRequested ? "the stop timed out" : "a sink has not acknowledged everything applied");
        }
        finally
        {
            await bound.CancelAsync();
            await consumers;
        }
    }

    private async Task<Lsn?> WriteAsync(string why, CancellationToken ct)
    {
        try
        {
            if (await checkpoints.WriteAsync(ct) is { } lsn)
            {
                var status = checkpoints.Status;
                log.LogInformation("checkpoint at {Lsn} ({Why}): {Rows} rows, {Bytes} bytes in {Ms} ms", lsn, why, status.LastRows, status.LastBytes,
                    status.LastWriteMilliseconds);
                _lastError = null;
                return lsn;
            }
            log.LogDebug("no checkpoint now ({Why}): {Reason}", why, checkpoints.LastSkipped);
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException)
        {
            // Once per distinct error: a full disk would otherwise say the same every interval.
            if (e.Message != _lastError)
                log.LogError("checkpoint failed: {Error}; the slot stays held at the last checkpoint (it keeps WAL on the server)", e.Message);
            _lastError = e.Message;
            return null;
        }
    }
}
