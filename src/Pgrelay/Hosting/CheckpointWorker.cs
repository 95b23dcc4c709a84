using Pgrelay.Store.Checkpoints;

namespace Pgrelay.Hosting;

/// <summary>
/// Writes the store's checkpoints every <c>checkpoint-interval</c> while pgrelay runs (with a state directory). A failed
/// write is logged and tried again at the next interval; the slot stays held at the last valid checkpoint meanwhile.
/// </summary>
internal sealed class CheckpointWorker(StoreCheckpoints checkpoints, ILogger<CheckpointWorker> log) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!checkpoints.Enabled) return;
        using var timer = new PeriodicTimer(checkpoints.Interval);
        string? lastError = null;
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                try
                {
                    if (await checkpoints.WriteAsync(stoppingToken) is { } lsn)
                    {
                        var status = checkpoints.Status;
                        log.LogInformation("checkpoint at {Lsn}: {Rows} rows, {Bytes} bytes in {Ms} ms", lsn, status.LastRows, status.LastBytes,
                            status.LastWriteMilliseconds);
                        lastError = null;
                    }
                    else
                    {
                        log.LogDebug("no checkpoint now: {Reason}", checkpoints.LastSkipped);
                    }
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException)
                {
                    // Once per distinct error: a full disk would otherwise say the same every interval.
                    if (e.Message != lastError)
                        log.LogError("checkpoint failed: {Error}; the slot stays held at the last checkpoint (it keeps WAL on the server)", e.Message);
                    lastError = e.Message;
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }
}
