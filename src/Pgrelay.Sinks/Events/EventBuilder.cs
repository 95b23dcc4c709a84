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
            var filterRow = change.After ?? change.Before;
            if (op != EventOp.Truncate && filterRow is not null && !plan.Passes(new RowView(filterRow), change.Schema)) continue;
            if (op != EventOp.Truncate && filterRow is null) continue;
            output.Add(new ChangeEvent
            {
                Op = op,
                Table = plan.Table,
                Before = change.Before is null ? null : plan.Project(change.Before),
                After = change.After is null ? null : plan.Project(change.After),
                CommitLsn = transaction.CommitLsn,
                EndLsn = transaction.EndLsn,
                Xid = transaction.Xid,
                CommitTime = transaction.CommitTime,
                Index = i,
                SourceTable = change.Table,
                Replayed = transaction.Replayed,
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
