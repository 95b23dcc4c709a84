using Pgrelay.Core.Model;

namespace Pgrelay.Store.Feed;

/// <summary>A source transaction after the store made it visible: the unit every subscriber receives.</summary>
public sealed record CommittedTransaction(uint Xid, Lsn CommitLsn, Lsn EndLsn, DateTimeOffset CommitTime, IReadOnlyList<AppliedChange> Changes);
