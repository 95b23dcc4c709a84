using Pgrelay.Configuration;
using Pgrelay.Http.Status;
using Pgrelay.Replication;
using Pgrelay.Sinks.Configuration;
using Pgrelay.Sinks.Hosting;
using Pgrelay.Store;

namespace Pgrelay.Hosting;

/// <summary>
/// Wires the sinks room into the host: sink settings from <c>--sink</c> flags and the config file's <c>sinks</c>/<c>rules</c>,
/// the replication options the sinks' checkpoints call for (keep the slot, resume no later than the oldest checkpoint,
/// replay what the kept slot holds below the new snapshot), and the dashboard's view of the sinks.
/// </summary>
internal static class SinkHosting
{
    /// <summary>Parses the sinks; a bad definition becomes a <see cref="SettingsException"/> (one line, exit code 2).</summary>
    public static SinkSettings Settings(PgrelaySettings settings)
    {
        try
        {
            return SinkSettingsParser.Parse(settings.Sinks, settings.ConfigFile, settings.StateDirectory);
        }
        catch (SinkConfigurationException e)
        {
            throw new SettingsException(e.Message);
        }
    }

    /// <summary>Sets the replication options the sinks' checkpoint files call for (the store replays what they lack by itself).</summary>
    public static void ConfigureReplication(ReplicationOptions options, SinkSettings sinks)
    {
        if (!sinks.Any) return;
        var plan = SinkResumePlan.For(sinks);
        options.KeepSlot = plan.KeepSlot;
        options.ResumeFrom = plan.ResumeFrom;
        options.DropSlotOnStop = plan.DropSlotOnStop;
    }

    public static void AddServices(IServiceCollection services, SinkSettings sinks)
    {
        if (!sinks.Any) return;
        services.AddPgrelaySinks(sinks);
        services.AddSingleton<ISinkCheckpointSource, SinkCheckpoints>();
    }

    /// <summary>The sinks' positions and health as the dashboard and /status show them.</summary>
    private sealed class SinkCheckpoints(SinkSupervisor sinks) : ISinkCheckpointSource
    {
        public IReadOnlyList<SinkCheckpoint> Checkpoints => sinks.Statuses
            .Select(s => new SinkCheckpoint(s.Name, s.Kind, s.Acknowledged, s.State.ToString().ToLowerInvariant(), s.Failures, s.LastError,
                s.PermanentFailures))
            .ToList();
    }
}
