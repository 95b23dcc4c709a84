using Pgrelay.Core.Changes;

namespace Pgrelay.Store.Writing;

/// <summary>
/// The one rule deciding what a committed transaction is to the store (<see cref="TransactionRoute"/>), by its commit LSN
/// against the store's visible LSN V (the end of the last applied transaction, or the snapshot's consistent point):
/// <list type="bullet">
/// <item>at or above V: new, <b>apply</b> (a commit exactly at a snapshot's consistent point is one of these);</item>
/// <item>below V, inside the replay window and not yet replayed: <b>replay</b> (the store holds it through its
/// snapshot, durable consumers that resumed a kept slot below that snapshot still need it);</item>
/// <item>otherwise <b>skip</b> (resent after a reconnect, or older than what any consumer needs).</item>
/// </list>
/// The replay window is [the kept slot's confirmed end, the snapshot's consistent point). Commit records never overlap,
/// so a commit below the end of the last replayed transaction was replayed already.
/// </summary>
internal sealed class TransactionRouter
{
    private ulong _replayBelow;    // the snapshot's consistent point; 0: no replay window
    private ulong _replayedEnd;    // end LSN of the last replayed transaction, or the window's start

    public TransactionRoute Route(ulong commitLsn, ulong visible)
    {
        if (commitLsn >= visible) return TransactionRoute.Apply;
        if (commitLsn < _replayBelow && commitLsn >= _replayedEnd) return TransactionRoute.Replay;
        return TransactionRoute.Skip;
    }

    /// <summary>Opens the window after a snapshot at <paramref name="consistentPoint"/> for a slot confirmed at
    /// <paramref name="fromEnd"/>; no window when the slot is not below the snapshot.</summary>
    public void Open(ulong fromEnd, ulong consistentPoint)
    {
        if (fromEnd >= consistentPoint) { Close(); return; }
        _replayBelow = consistentPoint;
        _replayedEnd = fromEnd;
    }

    public void Close()
    {
        _replayBelow = 0;
        _replayedEnd = 0;
    }

    public void Replayed(ulong endLsn) => _replayedEnd = endLsn;
}
