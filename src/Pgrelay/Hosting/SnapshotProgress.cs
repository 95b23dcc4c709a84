using Pgrelay.Core.Status;

namespace Pgrelay.Hosting;

/// <summary>
/// Shows the initial copy's progress: a bar redrawn in place on a terminal, a log line every few seconds
/// otherwise (CI logs, journald).
/// </summary>
internal sealed class SnapshotProgress(ReplicationStatus status, ILogger<SnapshotProgress> log) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        bool terminal = !Console.IsErrorRedirected;
        var interval = TimeSpan.FromMilliseconds(terminal ? 200 : 3000);
        bool drawn = false, sawSnapshot = false;
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                await Task.Delay(interval, stoppingToken);
                var phase = status.Phase;
                if (phase == ReplicationPhase.Snapshotting)
                {
                    sawSnapshot = true;
                    if (terminal) { Console.Error.Write("\r" + Bar()); drawn = true; }
                    else log.LogInformation("snapshot: {Progress}", Line());
                }
                else if (sawSnapshot && phase is ReplicationPhase.Streaming)
                {
                    if (drawn) Console.Error.WriteLine("\r" + Bar());
                    log.LogInformation("snapshot complete: {Rows:N0} rows in {Tables} tables", status.SnapshotRowsCopied, status.SnapshotTablesDone);
                    sawSnapshot = drawn = false;
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private double Fraction()
    {
        long estimated = status.SnapshotRowsEstimated, copied = status.SnapshotRowsCopied;
        if (status.Phase == ReplicationPhase.Streaming) return 1;
        return estimated <= 0 ? 0 : Math.Min(0.99, (double)copied / estimated);
    }

    private string Line() =>
        $"{status.SnapshotRowsCopied:N0} of ~{status.SnapshotRowsEstimated:N0} rows, {status.SnapshotTablesDone}/{status.SnapshotTablesTotal} tables ({Fraction():P0})";

    private string Bar()
    {
        const int width = 30;
        int filled = (int)(Fraction() * width);
        return $"snapshot [{new string('#', filled)}{new string(' ', width - filled)}] {Line()}   ";
    }
}
