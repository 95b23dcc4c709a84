namespace Pgrelay.Core.Changes;

/// <summary>What a target does with a committed transaction, decided by <see cref="IReplicationTarget.Route"/>.</summary>
public enum TransactionRoute : byte
{
    /// <summary>Already in the target (a replay after a reconnect, or part of the snapshot): nothing to do.</summary>
    Skip,
    /// <summary>New: apply it.</summary>
    Apply,
    /// <summary>Already in the target's data, but durable consumers that are behind still need it (a kept slot resumed below
    /// the snapshot): pass it on to them without applying it.</summary>
    Replay,
}
