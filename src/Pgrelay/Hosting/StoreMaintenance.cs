using Pgrelay.Store;

namespace Pgrelay.Hosting;

/// <summary>
/// Drops row versions kept for readers that pinned a snapshot once they are done. Apply does this for
/// each transaction; this catches pins released while no transaction arrives.
/// </summary>
internal sealed class StoreMaintenance(ReplicatedStore store) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken)) store.Maintain();
        }
        catch (OperationCanceledException)
        {
        }
    }
}
