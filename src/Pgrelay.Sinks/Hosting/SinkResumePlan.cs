using Pgrelay.Core.Model;
using Pgrelay.Sinks.Configuration;
using Pgrelay.Sinks.Delivery;

namespace Pgrelay.Sinks.Hosting;

/// <summary>
/// What replication must do at start for the configured sinks, read from their checkpoint files before anything runs:
/// when some sink has a checkpoint, keep the slot (<c>ReplicationOptions.KeepSlot</c>) and never resume it beyond the
/// oldest checkpoint (<c>ResumeFrom</c>), and wire <c>BeginReplay</c>/<c>Replay</c> to the store so the transactions
/// between the slot's confirmed position and the new snapshot reach the sinks.
/// </summary>
public sealed record SinkResumePlan(bool KeepSlot, Lsn? ResumeFrom)
{
    public static SinkResumePlan For(SinkSettings settings)
    {
        if (!settings.Any || settings.StateDirectory is null) return new(false, null);
        var oldest = new CheckpointStore(settings.StateDirectory).Oldest(settings.Sinks.Select(s => s.Name));
        return new(oldest is not null, oldest);
    }
}
