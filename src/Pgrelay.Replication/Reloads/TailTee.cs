using Pgrelay.Core.Changes;
using Pgrelay.Core.Model;

namespace Pgrelay.Replication.Reloads;

/// <summary>
/// Copies the changes of one applied transaction that touch tables being loaded into their tails, as the target reads
/// them. Writer thread only.
/// </summary>
internal sealed class TailTee(IReadOnlyDictionary<uint, ReloadTail> tails)
{
    public IEnumerable<RowChange> Wrap(IEnumerable<RowChange> changes)
    {
        foreach (var change in changes)
        {
            if (tails.TryGetValue(change.Table.RelationId, out var tail)) tail.Add(change);
            yield return change;
        }
    }

    /// <summary>The transaction was applied: what was copied belongs to it.</summary>
    public void Commit(uint xid, Lsn commitLsn, Lsn endLsn, DateTimeOffset commitTime)
    {
        foreach (var tail in tails.Values) tail.Commit(xid, commitLsn, endLsn, commitTime);
    }
}
