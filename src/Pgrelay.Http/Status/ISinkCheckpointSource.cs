using Pgrelay.Core.Model;

namespace Pgrelay.Http.Status;

/// <summary>A sink's durable position: everything up to <see cref="Acknowledged"/> has been delivered.</summary>
public readonly record struct SinkCheckpoint(string Name, string Kind, Lsn Acknowledged);

/// <summary>
/// The seam for the sinks room: the host registers one source (adapting the sinks' checkpoints, or the
/// store's durable consumers) and the status document and dashboard list what it reports. With none
/// registered the dashboard says that no sinks are configured.
/// </summary>
public interface ISinkCheckpointSource
{
    IReadOnlyList<SinkCheckpoint> Checkpoints { get; }
}
