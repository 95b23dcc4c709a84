using Pgrelay.Core.Model;

namespace Pgrelay.Core.Changes;

/// <summary>
/// Where replication delivers what it reads. The seam between the room that talks to PostgreSQL and the
/// rooms that hold or forward data: replication never knows who reads.
/// </summary>
public interface IReplicationTarget : ISnapshotRowSink
{
    /// <summary>
    /// Forget everything and prepare for a fresh snapshot of these publications. <paramref name="replayFrom"/>: streaming
    /// will resume on a kept slot confirmed at this end LSN, below the snapshot; committed transactions between it and the
    /// snapshot are already in the data but are <see cref="TransactionRoute.Replay"/>ed for durable consumers that are behind.
    /// </summary>
    void BeginSnapshot(IReadOnlyList<PublicationSchema> publications, Lsn? replayFrom = null);

    /// <summary>
    /// The copy is complete. A slot created at consistent point P exports a snapshot holding every transaction whose commit
    /// record starts before P; PostgreSQL decodes every commit starting at or after P, the one starting exactly at P
    /// included. So the target now contains the commits below <paramref name="consistentPoint"/>, and a commit at it is new.
    /// </summary>
    void CompleteSnapshot(Lsn consistentPoint);

    /// <summary>
    /// The one rule that says what a committed transaction is to this target, by its commit LSN: new (apply), already
    /// contained (skip), or contained but owed to durable consumers (replay). The decoder asks it at Begin, to skip
    /// decoding what is not needed; <see cref="Apply"/> follows the same rule.
    /// </summary>
    TransactionRoute Route(Lsn commitLsn);

    /// <summary>Takes one committed transaction, in commit order, from one thread, and does what <see cref="Route"/>
    /// says: applies it atomically, replays it to durable consumers, or ignores it.
    /// <para>Changes of tables the target does not hold (not yet loaded) are ignored. A <see cref="ChangeKind.Relation"/>
    /// change whose rows are not <see cref="TableSchema.IsRowCompatibleWith">row-compatible</see> with the held schema
    /// freezes the table: the target keeps serving it as it was and ignores its changes until a
    /// <see cref="ChangeKind.Load"/> replaces it (the stream cannot tell what the old rows look like now).</para></summary>
    void Apply(Transaction transaction);

    /// <summary>
    /// Every transaction whose commit LSN is below this is contained in the target, and none at or above it: the end LSN
    /// of the last applied transaction, or the snapshot's consistent point. Commit records never overlap, so the next
    /// transaction's commit is at or above it.
    /// </summary>
    Lsn AppliedLsn { get; }

    /// <summary>
    /// Starts loading one table beside the stream into a copy nobody reads (a table added to a publication, or one whose
    /// rows the stream cannot tell after an ALTER TABLE). It becomes the table, under <paramref name="publications"/>, when a
    /// transaction carrying a <see cref="ChangeKind.Load"/> change for it is applied; until then the target keeps serving
    /// what it held (nothing, for a table it did not hold). One load per table: a new one replaces an unfinished one.
    /// </summary>
    ITableLoad BeginTableLoad(TableSchema schema, IReadOnlyList<string> publications);

    /// <summary>The highest end LSN every durable consumer has acknowledged; the slot is confirmed up to here.</summary>
    Lsn SafeToConfirmLsn { get; }

    /// <summary>
    /// The stream has reached <paramref name="position"/> outside any transaction (a heartbeat message): every commit
    /// below it has been delivered. Lets a target finish what waits on the stream passing a point (the replay window).
    /// </summary>
    void Reached(Lsn position) { }

    /// <summary>Never confirm the slot past this, not even to the server's position while idle: the newest checkpoint on
    /// disk restarts from it (unbounded for a target without checkpoints).</summary>
    Lsn ConfirmCeiling => new(ulong.MaxValue);
}
