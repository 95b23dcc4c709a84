using Microsoft.Extensions.Hosting;
using Pgrelay.Core.Status;

namespace Pgrelay.Http.Status;

/// <summary>Records the replication lag into <see cref="LagHistory"/> once a second while the host runs.</summary>
internal sealed class LagSampler(ReplicationStatus status, LagHistory history) : BackgroundService
{
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(1);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Interval);
        do
        {
            var now = DateTimeOffset.UtcNow;
            history.Record(new LagSample(now, status.LagSeconds(now), status.LagBytes));
        }
        while (await WaitAsync(timer, stoppingToken));
    }

    private static async Task<bool> WaitAsync(PeriodicTimer timer, CancellationToken stoppingToken)
    {
        try
        {
            return await timer.WaitForNextTickAsync(stoppingToken);
        }
        catch (OperationCanceledException)
        {
            return false;   // host stopping
        }
    }
}
