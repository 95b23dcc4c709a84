using Pgrelay.Replication;

namespace Pgrelay.Hosting;

/// <summary>
/// Runs replication for the life of the host. A setup problem (bad source, missing publication...) is
/// one log line and a non-zero exit, never a stack trace.
/// </summary>
internal sealed class ReplicationWorker(PgrelayCore core, IHostApplicationLifetime lifetime, ILogger<ReplicationWorker> log)
    : BackgroundService
{
    /// <summary>The setup problem that stopped replication, for the command line to print as its one line.</summary>
    public ReplicationSetupException? SetupFailure { get; private set; }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await core.RunAsync(stoppingToken);   // joins the run the command line began before the host, if any
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        catch (ReplicationSetupException e)
        {
            SetupFailure = e;
            log.LogCritical("{Problem}", e.Message);
            Environment.ExitCode = 1;
            lifetime.StopApplication();
        }
        catch (Exception e)
        {
            log.LogCritical(e, "replication stopped: {Problem}", e.Message);
            Environment.ExitCode = 1;
            lifetime.StopApplication();
        }
    }
}
