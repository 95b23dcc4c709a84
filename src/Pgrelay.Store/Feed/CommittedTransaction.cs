using Pgrelay.Core.Model;

namespace Pgrelay.Store.Feed;

/// <summary>A source transaction after the store made it visible: the unit every subscriber receives.</summary>
/// <param name="Replayed">The store's snapshot already held this transaction; it was passed on for durable readers behind the
/// snapshot. Its images are what PostgreSQL sent: Before is the old key or row (may be partial or missing) and After may hold
/// unchanged-TOAST columns (<see cref="Core.Rows.ColumnState.Unchanged"/>).</param>
public sealed record CommittedTransaction(uint Xid, Lsn CommitLsn, Lsn EndLsn, DateTimeOffset CommitTime, IReadOnlyList<AppliedChange> Changes,
    bool Replayed = false);
