using Pgrelay.Core.Model;
using Pgrelay.Sinks.Delivery;

namespace Pgrelay.Sinks.Hosting;

/// <summary>One sink at one moment, for dashboards and status documents (the host adapts it to its own interfaces).</summary>
/// <param name="Acknowledged">End LSN of the sink's durable checkpoint: the slot is never confirmed past the lowest of these.</param>
/// <param name="LagBytes">WAL bytes between the checkpoint and what the store has applied.</param>
public sealed record SinkStatusRecord(string Name, string Kind, Lsn Acknowledged, SinkState State, long EventsDelivered, long RowsLoaded,
    long Failures, long ConsecutiveFailures, long LagBytes, string? LastError, DateTimeOffset? LastErrorTime, DateTimeOffset? LastDeliveryTime,
    long PermanentFailures = 0)
{
    public static SinkStatusRecord From(SinkStatus s) => new(s.Name, s.Type, s.CheckpointLsn, s.State, s.EventsDelivered, s.RowsLoaded,
        s.Failures, s.ConsecutiveFailures, s.LagBytes, s.LastError, s.LastErrorTime, s.LastDeliveryTime, s.PermanentFailures);
}
