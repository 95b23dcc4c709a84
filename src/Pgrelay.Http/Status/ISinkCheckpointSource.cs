using Pgrelay.Core.Model;

namespace Pgrelay.Http.Status;

/// <summary>
/// A sink's durable position: everything up to <see cref="Acknowledged"/> has been delivered. The optional
/// health fields let the dashboard show a sink that is retrying or failed, not only one that is behind.
/// </summary>
/// <param name="State">Lower-case state as the sink reports it ("streaming", "retrying", "failed", ...); null when unknown.</param>
/// <param name="Failures">Failed deliveries so far.</param>
/// <param name="LastError">The most recent delivery error, if any.</param>
/// <param name="PermanentFailures">Failed deliveries that retrying cannot cure (state "failed": the target or the data must change).</param>
public readonly record struct SinkCheckpoint(string Name, string Kind, Lsn Acknowledged, string? State = null, long Failures = 0,
    string? LastError = null, long PermanentFailures = 0);

/// <summary>
/// The seam for the sinks room: the host registers one source (adapting the sinks' checkpoints, or the
/// store's durable consumers) and the status document and dashboard list what it reports. With none
/// registered the dashboard says that no sinks are configured.
/// </summary>
public interface ISinkCheckpointSource
{
    IReadOnlyList<SinkCheckpoint> Checkpoints { get; }
}
