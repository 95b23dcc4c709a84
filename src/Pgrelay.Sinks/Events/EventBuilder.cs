using Pgrelay.Core.Changes;
using Pgrelay.Core.Model;
using Pgrelay.Core.Rows;
using Pgrelay.Sinks.Rules;
using Pgrelay.Store.Feed;
using Pgrelay.Store.Tables;

namespace Pgrelay.Sinks.Events;

/// <summary>Turns committed transactions and snapshot rows into one sink's events, through its rules.</summary>
public sealed class EventBuilder(RuleSet rules, bool transactionBoundaries)
{
    public RuleSet Rules { get; } = rules;

    /// <summary>Appends the transaction's events (BEGIN/COMMIT around them when the sink wants boundaries); returns how many changes passed.</summary>
    public int Add(CommittedTransaction transaction, List<ChangeEvent> output)
    {
        int begin = output.Count;
        if (transactionBoundaries) output.Add(Boundary(EventOp.Begin, transaction, 0));
        int passed = 0;
        var changes = transaction.Changes;
        for (int i = 0; i < changes.Count; i++)
        {
            var change = changes[i];
            var op = change.Kind switch
            {
                ChangeKind.Insert => EventOp.Insert,
                ChangeKind.Update => EventOp.Update,
                ChangeKind.Delete => EventOp.Delete,
                ChangeKind.Truncate => EventOp.Truncate,
                _ => (EventOp)0,
            };
            if (op == 0) continue;   // relation changes: sinks follow the new shape through the next row's schema
            var plan = Rules.PlanFor(change.Schema, op);
            if (op != EventOp.Truncate && (op = Filter(plan, op, change)) == 0) continue;
            output.Add(new ChangeEvent
            {
                Op = op,
                Table = plan.Table,
                Before = change.Before is null || op == EventOp.Insert ? null : plan.Project(change.Before),
                After = change.After is null || op == EventOp.Delete ? null : plan.Project(change.After),
                CommitLsn = transaction.CommitLsn,
                EndLsn = transaction.EndLsn,
                Xid = transaction.Xid,
                CommitTime = transaction.CommitTime,
                Index = i,
                SourceTable = change.Table,
                Replayed = transaction.Replayed,
                BeforeCopy = change.BeforeCopy,
                AfterCopy = change.AfterCopy,
            });
            passed++;
        }
        if (transactionBoundaries)
        {
            if (passed == 0) output.RemoveAt(begin);   // nothing of it reached this sink
            else output.Add(Boundary(EventOp.Commit, transaction, passed));
        }
        return passed;
    }

    /// <summary>
    /// The operation that reaches the sink after the filters, or 0 when none does. Inserts are tested on the new row and
    /// deletes on the old one. An update is tested on both images, as PostgreSQL 15 does with publication row filters:
    /// a row that leaves the filtered set becomes a delete and one that enters it an insert, so sinks that mirror the
    /// rows (postgres, redis-hash) keep exactly the filtered rows instead of a stale copy.
    /// </summary>
    private static EventOp Filter(TablePlan plan, EventOp op, AppliedChange change)
    {
        bool Passes(byte[]? row) => row is not null && plan.Passes(new RowView(row), change.Schema);
        if (op != EventOp.Update || change.Before is null) return Passes(change.After ?? change.Before) ? op : 0;
        bool was = Passes(change.Before), now = Passes(change.After);
        return (was, now) switch
        {
            (true, true) => EventOp.Update,
            (true, false) => EventOp.Delete,
            (false, true) => EventOp.Insert,
            _ => 0,
        };
    }

    /// <summary>A row of the initial load (op r), or null when the rules filter it out.</summary>
    public ChangeEvent? Read(StoredTable table, RowRef row, Lsn pinLsn, Lsn endLsn, DateTimeOffset time, int index)
    {
        var plan = Rules.PlanFor(row.Schema, EventOp.Read);
        if (!plan.Passes(row.View, row.Schema)) return null;
        return new ChangeEvent
        {
            Op = EventOp.Read,
            Table = plan.Table,
            After = plan.Project(row.Bytes),
            CommitLsn = pinLsn,
            EndLsn = endLsn,
            CommitTime = time,
            Index = index,
            SourceTable = table,
            AfterCopy = row.Copy,
        };
    }

    private static ChangeEvent Boundary(EventOp op, CommittedTransaction t, int count) => new()
    {
        Op = op,
        CommitLsn = t.CommitLsn,
        EndLsn = t.EndLsn,
        Xid = t.Xid,
        CommitTime = t.CommitTime,
        EventCount = count,
        Replayed = t.Replayed,
    };
}
