using Pgrelay.Core.Model;

namespace Pgrelay.Sinks.Targets;

/// <summary>
/// A target that stores the sink's checkpoint inside the same target transaction as the batch it covers (PostgreSQL).
/// After a crash the runner resumes from the later of this and the checkpoint file, so a batch the target committed
/// is not applied twice even if the file was not written yet.
/// </summary>
public interface ITransactionalCheckpoint
{
    /// <summary>The end LSN the target last committed a batch up to, or null. Called after <see cref="ISinkTarget.OpenAsync"/>.</summary>
    Task<Lsn?> ReadCheckpointAsync(CancellationToken ct);
}
