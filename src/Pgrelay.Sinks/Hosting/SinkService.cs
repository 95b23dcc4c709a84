using Microsoft.Extensions.Hosting;

namespace Pgrelay.Sinks.Hosting;

/// <summary>Runs the sinks for the life of the host.</summary>
internal sealed class SinkService(SinkSupervisor sinks) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try { await sinks.RunAsync(stoppingToken).ConfigureAwait(false); }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested) { }
    }
}
