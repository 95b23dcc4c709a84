using Pgrelay.Core.Model;

namespace Pgrelay.Core.Changes;

/// <summary>
/// A committed source transaction. Changes are enumerated once, in order; for big transactions the
/// enumeration may read back from a spill file, so do not enumerate twice.
/// </summary>
public sealed class Transaction
{
    public Transaction(uint xid, Lsn commitLsn, Lsn endLsn, DateTimeOffset commitTime, int count, IEnumerable<RowChange> changes)
    {
        Xid = xid;
        CommitLsn = commitLsn;
        EndLsn = endLsn;
        CommitTime = commitTime;
        Count = count;
        Changes = changes;
    }

    public uint Xid { get; }
    /// <summary>The commit record's LSN: every row of the transaction becomes visible at this position.</summary>
    public Lsn CommitLsn { get; }
    /// <summary>The end of the commit record: what is confirmed to the server once the transaction is safe.</summary>
    public Lsn EndLsn { get; }
    public DateTimeOffset CommitTime { get; }
    public int Count { get; }
    public IEnumerable<RowChange> Changes { get; }
}
