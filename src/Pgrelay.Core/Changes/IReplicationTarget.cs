using Pgrelay.Core.Model;

namespace Pgrelay.Core.Changes;

/// <summary>
/// Where replication delivers what it reads. The seam between the room that talks to PostgreSQL and the
/// rooms that hold or forward data: replication never knows who reads.
/// </summary>
public interface IReplicationTarget
{
    /// <summary>Forget everything and prepare for a fresh snapshot of these publications.</summary>
    void BeginSnapshot(IReadOnlyList<PublicationSchema> publications);

    /// <summary>Rows copied inside the exported snapshot. Called concurrently by parallel copiers; rows of a batch belong to one table.</summary>
    void LoadSnapshotRows(TableSchema table, IReadOnlyList<byte[]> rows);

    /// <summary>A hint before a table's copy starts: about how many rows it holds (may be wrong, or 0 when unknown).</summary>
    void ExpectSnapshotRows(TableSchema table, long estimate) { }

    /// <summary>The copy is complete; what follows is streamed changes after <paramref name="consistentPoint"/>.</summary>
    void CompleteSnapshot(Lsn consistentPoint);

    /// <summary>Applies one committed transaction atomically. Called from one thread, in commit order.
    /// Transactions with a commit LSN at or below <see cref="AppliedLsn"/> are ignored (replays after reconnect).</summary>
    void Apply(Transaction transaction);

    /// <summary>Commit LSN of the last transaction applied (or the snapshot's consistent point).</summary>
    Lsn AppliedLsn { get; }

    /// <summary>The highest end LSN every durable consumer has acknowledged; the slot is confirmed up to here.</summary>
    Lsn SafeToConfirmLsn { get; }
}
