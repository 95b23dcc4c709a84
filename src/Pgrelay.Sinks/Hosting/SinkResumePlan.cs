using Pgrelay.Core.Model;
using Pgrelay.Sinks.Configuration;
using Pgrelay.Sinks.Delivery;

namespace Pgrelay.Sinks.Hosting;

/// <summary>
/// What replication must do for the configured sinks, read from their checkpoint files before anything runs. Host
/// wiring: <c>ReplicationOptions.KeepSlot = KeepSlot</c>, <c>ResumeFrom = ResumeFrom</c>, <c>DropSlotOnStop = DropSlotOnStop</c>;
/// the store then replays the transactions between the kept slot's confirmed position and the new snapshot to the sinks.
/// </summary>
/// <param name="KeepSlot">Some sink has a checkpoint: resume the existing slot instead of recreating it.</param>
/// <param name="ResumeFrom">The oldest checkpoint: a slot confirmed beyond it cannot serve that sink and is recreated.</param>
/// <param name="DropSlotOnStop">False when sinks keep durable checkpoints: the slot must outlive a stop to resume them.</param>
public sealed record SinkResumePlan(bool KeepSlot, Lsn? ResumeFrom, bool DropSlotOnStop)
{
    public static SinkResumePlan For(SinkSettings settings)
    {
        if (!settings.Any || settings.StateDirectory is null) return new(false, null, true);
        var oldest = new CheckpointStore(settings.StateDirectory).Oldest(settings.Sinks.Select(s => s.Name));
        return new(oldest is not null, oldest, false);
    }
}
