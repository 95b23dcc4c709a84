using Pgrelay.Sinks.Events;

namespace Pgrelay.Sinks.Targets;

/// <summary>
/// Where one sink writes. A delivery must be durable at the target when <see cref="DeliverAsync"/> returns; a throw means
/// "try the whole batch again" (so targets are idempotent or tolerate duplicates: at-least-once).
/// </summary>
public interface ISinkTarget : IAsyncDisposable
{
    /// <summary>Connects (again, after a failure). Called before the first delivery and after any failed one.</summary>
    Task OpenAsync(CancellationToken ct);

    Task DeliverAsync(SinkBatch batch, CancellationToken ct);

    /// <summary>The target mirrors tables, so its batches carry <see cref="EventOp.Relation"/> events (ALTER TABLE).</summary>
    bool WantsSchemaChanges => false;
}
