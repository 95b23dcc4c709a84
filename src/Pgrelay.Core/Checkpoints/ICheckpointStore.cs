using Pgrelay.Core.Model;

namespace Pgrelay.Core.Checkpoints;

/// <summary>
/// The seam between the room that talks to PostgreSQL and the store's checkpoints on disk. Replication decides at
/// start-up whether the newest checkpoint is usable (same source, same publications and schemas, a slot that still
/// holds everything after it) and, if so, has it loaded instead of copying; the store writes checkpoints by itself.
/// </summary>
public interface ICheckpointStore
{
    /// <summary>Checkpoints are written (a state directory and a non-zero interval).</summary>
    bool Enabled { get; }

    /// <summary>The newest checkpoint's header (its checksum verified), or null when there is none. A file whose header
    /// is torn or corrupt is reported through <paramref name="problem"/> (and is not returned).</summary>
    CheckpointInfo? Newest(out string? problem);

    /// <summary>Loads the rows of <paramref name="checkpoint"/> into the store, which then serves them as of its LSN.
    /// Throws <see cref="CheckpointUnusableException"/> when a block is corrupt or the file ends early; the store is then
    /// left empty and not ready.</summary>
    void Load(CheckpointInfo checkpoint);

    /// <summary>
    /// <see cref="Load(CheckpointInfo)"/> beside the checks that decide whether the checkpoint may be served: once every row
    /// is in place and before any becomes visible, <paramref name="publish"/> is asked (it may block until the checks are
    /// done). False leaves the store empty and not ready, and returns false.
    /// </summary>
    bool Load(CheckpointInfo checkpoint, Func<bool>? publish);

    /// <summary>Gives up the checkpoints on disk: a fresh snapshot follows. With a <paramref name="reason"/> they were useless
    /// (counted; the caller logs it); without one they are merely obsolete (a new slot replaces the one they resume).</summary>
    void Discard(string? reason);

    /// <summary>Who the checkpoints are for; written into every header and compared at the next start, with the membership
    /// tokens <paramref name="membershipTokens"/> gives at the time of writing. Nothing is written before this is known.</summary>
    void SetSource(CheckpointSource source, Func<IReadOnlyDictionary<uint, string>> membershipTokens);
}

/// <summary>The source a checkpoint was taken from: <c>IDENTIFY_SYSTEM</c>'s system identifier, the database, the slot
/// the store streams from, and per table the membership token that changes when it leaves a publication and comes back.</summary>
public sealed record CheckpointSource(string SystemIdentifier, string Database, string Slot, IReadOnlyDictionary<uint, string> MembershipTokens);

/// <summary>A checkpoint's header: where it is, whom it is for, and the state at <see cref="Lsn"/> (every transaction
/// whose commit is below it, none at or above it).</summary>
public sealed record CheckpointInfo(string Path, int FormatVersion, CheckpointSource Source, Lsn Lsn, DateTimeOffset Created,
    IReadOnlyList<PublicationSchema> Publications);

/// <summary>A checkpoint that cannot be used: a torn or corrupt file. The message says why.</summary>
public sealed class CheckpointUnusableException(string message) : Exception(message);
