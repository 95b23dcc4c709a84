using Pgrelay.Core.Changes;
using Pgrelay.Core.Keys;
using Pgrelay.Core.Model;
using Pgrelay.Core.Rows;
using Pgrelay.Sinks.Rules;
using Pgrelay.Store.Feed;
using Pgrelay.Store.Tables;

namespace Pgrelay.Sinks.Events;

/// <summary>Turns committed transactions and snapshot rows into one sink's events, through its rules.</summary>
/// <param name="schemaChanges">Emit <see cref="EventOp.Relation"/> events (targets that mirror tables).</param>
/// <param name="feed">The feed the transactions come from: <see cref="ChangeEvent.Current"/> follows a row through it.</param>
/// <param name="idleLsn">Where replication was last idle with nothing pending (ReplicationStatus.IdleLsn): see <see cref="ChangeFeed.Replaying"/>.</param>
public sealed class EventBuilder(RuleSet rules, bool transactionBoundaries, bool schemaChanges = false, ChangeFeed? feed = null,
    Func<Lsn>? idleLsn = null)
{
    /// <summary>The last shape seen per relation: the old shape of a relation change that does not say (a replayed one).</summary>
    private readonly Dictionary<uint, TableSchema> _shapes = new();

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
            var previous = _shapes.GetValueOrDefault(change.Schema.RelationId);
            if (change.Kind == ChangeKind.Delete && previous is not null && !ReferenceEquals(previous, change.Schema)
                && !previous.IsRowCompatibleWith(change.Schema))
            {
                // A reload's delete of a row the new copy lacks keeps the shape the row was written under, after the
                // reload's rows in the new shape: told in the shape consumers follow now (columns by name).
                if (ReshapedDelete(transaction, change, i, previous) is { } reshaped)
                {
                    output.Add(reshaped);
                    passed++;
                }
                continue;
            }
            _shapes[change.Schema.RelationId] = change.Schema;
            if (change.Kind == ChangeKind.Relation)
            {
                // Sinks writing documents follow the new shape through the next row's schema; mirrors alter their tables.
                if (schemaChanges) output.Add(Relation(transaction, change, i, previous));
                continue;
            }
            // DDL that moves columns comes as no relation change: the store reloads the table, and its differences arrive
            // as ordinary changes in the new shape (every row, since the shape changed). Mirrors alter their tables first.
            if (schemaChanges && previous is not null && !ReferenceEquals(previous, change.Schema) && !previous.IsRowCompatibleWith(change.Schema))
                output.Add(Relation(transaction, change, i, previous));
            if (op == 0) continue;
            var plan = Rules.PlanFor(change.Schema, op);
            var e = op == EventOp.Truncate ? Event(op, plan, transaction, change, i, null, null) : Build(op, plan, transaction, change, i);
            if (e is null) continue;
            output.Add(e);
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
    /// The event a row change becomes after the filters, or null when it does not reach the sink. Inserts are tested on
    /// the new row and deletes on the old one. An update is tested on both images, as PostgreSQL 15 does with publication
    /// row filters: a row that leaves the filtered set becomes a delete and one that enters it an insert, so sinks that
    /// mirror the rows (postgres, redis-hash) keep exactly the filtered rows instead of a stale copy.
    /// </summary>
    /// <remarks>
    /// Replayed changes carry what PostgreSQL sent, not what the store knew (see <see cref="ChangeEvent.Partial"/>): without
    /// REPLICA IDENTITY FULL an UPDATE has no old row unless its key changed, and then (like a DELETE) only the key, its
    /// other columns NULL on the wire; an UPDATE's new row lacks the TOAST values it left alone. Those values are unknown
    /// here, never NULL, and a filter does not drop what they might match. An update whose old row is unknown is an
    /// upsert when the new row passes and a delete of its key when it does not (the target may hold a stale copy):
    /// both are idempotent, so they are right whether or not the target held the row.
    /// </remarks>
    private ChangeEvent? Build(EventOp op, TablePlan plan, CommittedTransaction transaction, AppliedChange change, int index)
    {
        // A replayed old row of a table without REPLICA IDENTITY FULL is the key only: its NULLs were not sent.
        bool keyOnly = transaction.Replayed && change.Before is not null && change.Schema.ReplicaIdentity != ReplicaIdentity.Full;
        bool Passes(byte[] row, bool nullIsUnknown = false) => plan.Passes(new RowView(row), change.Schema, nullIsUnknown);
        switch (op)
        {
            case EventOp.Insert:
                return change.After is { } inserted && Passes(inserted) ? Event(op, plan, transaction, change, index, null, plan.Project(inserted)) : null;
            case EventOp.Delete:
                return change.Before is { } deleted && Passes(deleted, keyOnly)
                    ? Event(op, plan, transaction, change, index, Before(plan, deleted, keyOnly), null)
                    : null;
        }
        var after = plan.Project(change.After!);
        if (change.Before is not { } old)
        {
            // The old row is unknown (replayed): upsert, or delete the key in case the target holds the row.
            return Passes(change.After!)
                ? Event(EventOp.Update, plan, transaction, change, index, null, after)
                : Event(EventOp.Delete, plan, transaction, change, index, KeyOnly(plan.Table, after), null);
        }
        var before = Before(plan, old, keyOnly);
        if (!keyOnly) FillUnknown(after, before);   // a complete old row knows what the update left alone
        return (Passes(old, keyOnly), Passes(change.After!)) switch
        {
            (true, true) => Event(EventOp.Update, plan, transaction, change, index, before, after),
            (true, false) => Event(EventOp.Delete, plan, transaction, change, index, before, null),
            (false, true) => Event(EventOp.Insert, plan, transaction, change, index, null, after),
            _ => null,
        };
    }

    private ChangeEvent Event(EventOp op, TablePlan plan, CommittedTransaction transaction, AppliedChange change, int index,
        SinkValue[]? before, SinkValue[]? after)
    {
        bool unknownAfter = SinkValue.AnyUnknown(after);
        return new ChangeEvent
        {
            Op = op,
            Table = plan.Table,
            Before = before,
            After = after,
            CommitLsn = transaction.CommitLsn,
            EndLsn = transaction.EndLsn,
            Xid = transaction.Xid,
            CommitTime = transaction.CommitTime,
            Index = index,
            SourceTable = change.Table,
            Replayed = transaction.Replayed,
            BeforeCopy = change.BeforeCopy,
            AfterCopy = change.AfterCopy,
            UnpublishedFrom = change.Unpublished?.Select(p => p.KeyName).ToArray(),
            Partial = unknownAfter || SinkValue.AnyUnknown(before) || (op == EventOp.Update && before is null),
            Current = unknownAfter ? ct => CurrentRowAsync(transaction, index, change, op, plan.Table, ct) : null,
        };
    }

    private ChangeEvent? ReshapedDelete(CommittedTransaction transaction, AppliedChange change, int index, TableSchema current)
    {
        var plan = Rules.PlanFor(change.Schema, EventOp.Delete);
        if (change.Before is not { } deleted || !plan.Passes(new RowView(deleted), change.Schema)) return null;
        var layout = Rules.PlanFor(current, EventOp.Delete);
        return Event(EventOp.Delete, layout, transaction, change, index, InLayout(plan, new RowView(deleted), layout.Table), null);
    }

    /// <summary>Every row the store holds now for <paramref name="layout"/>'s source table, in that layout (see <see cref="SinkBatch.StoreRows"/>).</summary>
    public IEnumerable<SinkValue[]> StoreRows(Store.ReplicatedStore store, SinkTable layout)
    {
        var source = store.Tables.FirstOrDefault(t => t.RelationId == layout.SourceSchema.RelationId);
        if (source is null) yield break;
        using var pin = store.Pin();
        foreach (var row in source.Rows(pin))
            yield return InLayout(Rules.PlanFor(row.Schema, EventOp.Read), row.View, layout);
    }

    /// <summary>The rows of <see cref="StoreRows"/> that pass the sink's filters (as an initial load's would), with their
    /// copy counts (see <see cref="SinkBatch.PublishedRows"/>).</summary>
    public IEnumerable<(SinkValue[] Row, int Copies)> PublishedRows(Store.ReplicatedStore store, SinkTable layout)
    {
        var source = store.Tables.FirstOrDefault(t => t.RelationId == layout.SourceSchema.RelationId);
        if (source is null) yield break;
        using var pin = store.Pin();
        foreach (var row in source.Rows(pin))
        {
            var plan = Rules.PlanFor(row.Schema, EventOp.Read);
            if (!plan.Passes(row.View, row.Schema)) continue;
            yield return (InLayout(plan, row.View, layout), row.View.Copies);
        }
    }

    /// <summary>A source row projected by <paramref name="plan"/>, its columns placed by name in <paramref name="layout"/> (NULL where it has none).</summary>
    private static SinkValue[] InLayout(TablePlan plan, RowView row, SinkTable layout)
    {
        var projected = plan.Project(row);
        if (ReferenceEquals(plan.Table, layout)) return projected;
        var columns = plan.Table.Columns;
        var result = new SinkValue[layout.Columns.Count];
        for (int i = 0; i < result.Length; i++)
        {
            int at = -1;
            for (int j = 0; j < columns.Count && at < 0; j++)
                if (columns[j].Name == layout.Columns[i].Name) at = j;
            result[i] = at < 0 ? SinkValue.Null : projected[at];
        }
        return result;
    }

    /// <summary>
    /// A relation event: the new layout and, when this run saw the old shape, the old one with each new column's old column
    /// by name (a column whose name is new is added; one whose name is gone is dropped; the same name with another type is
    /// converted). Names only: a rename reads as a drop and an add, which is what the store's reload says too (every row
    /// comes again in the new shape).
    /// </summary>
    private ChangeEvent Relation(CommittedTransaction transaction, AppliedChange change, int index, TableSchema? previous)
    {
        var plan = Rules.PlanFor(change.Schema, EventOp.Update);
        SinkTable? before = null;
        int[]? continues = null;
        if (previous is not null && !ReferenceEquals(previous, change.Schema))
        {
            before = Rules.PlanFor(previous, EventOp.Update).Table;
            var columns = plan.Table.Columns;
            continues = new int[columns.Count];
            for (int i = 0; i < columns.Count; i++)
            {
                continues[i] = -1;
                for (int j = 0; j < before.Columns.Count && continues[i] < 0; j++)
                    if (before.Columns[j].Name == columns[i].Name) continues[i] = j;
            }
        }
        return new ChangeEvent
        {
            Op = EventOp.Relation,
            Table = plan.Table,
            PreviousTable = before,
            PreviousColumns = continues,
            CommitLsn = transaction.CommitLsn,
            EndLsn = transaction.EndLsn,
            Xid = transaction.Xid,
            CommitTime = transaction.CommitTime,
            Index = index,
            SourceTable = change.Table,
            Replayed = transaction.Replayed,
            UnpublishedFrom = change.Unpublished?.Select(p => p.KeyName).ToArray(),
        };
    }

    /// <summary>The sink's old row; a key-only one has its non-key values unknown rather than NULL.</summary>
    private static SinkValue[] Before(TablePlan plan, byte[] row, bool keyOnly)
    {
        var before = plan.Project(row);
        if (keyOnly)
            for (int i = 0; i < before.Length; i++)
                if (before[i].State == ColumnState.Null) before[i] = SinkValue.Unknown;
        return before;
    }

    /// <summary>An old row that knows only the key: the key columns of <paramref name="after"/> (the key did not change).</summary>
    private static SinkValue[] KeyOnly(SinkTable table, SinkValue[] after)
    {
        var row = new SinkValue[after.Length];
        Array.Fill(row, SinkValue.Unknown);
        foreach (var k in table.KeyColumns) row[k] = after[k];
        return row;
    }

    private static void FillUnknown(SinkValue[] after, SinkValue[] before)
    {
        for (int i = 0; i < after.Length; i++)
            if (after[i].IsUnknown) after[i] = before[i];
    }

    /// <summary>The row the store holds now under the key of <paramref name="change"/>'s new row, in <paramref name="layout"/>.</summary>
    /// <remarks>
    /// The row may have moved since: its key is followed through the later changes of the feed (a key change moves it, a
    /// delete or truncate ends it: then null, and that later change removes it from the target too). Values it lacks
    /// that changed since come in full with those later changes; the ones still unchanged are the store's. While a replay
    /// is still arriving, the store's rows are ahead of the feed (they come from the snapshot the replay leads up to), so
    /// the row's later changes may not be in the feed yet: this waits for the replay to be complete first.
    /// </remarks>
    private async Task<SinkValue[]?> CurrentRowAsync(CommittedTransaction transaction, int index, AppliedChange change, EventOp op,
        SinkTable layout, CancellationToken ct)
    {
        if (feed is not null)
            while (feed.Replaying(idleLsn?.Invoke() ?? Lsn.Zero))
                await Task.Delay(50, ct).ConfigureAwait(false);
        return CurrentRow(transaction, index, change, op, layout);
    }

    private SinkValue[]? CurrentRow(CommittedTransaction transaction, int index, AppliedChange change, EventOp op, SinkTable layout)
    {
        var key = KeyBytes(change.After!, change.Schema);
        bool Follow(AppliedChange later)
        {
            if (!ReferenceEquals(later.Table, change.Table)) return true;
            if (later.Kind == ChangeKind.Truncate) return false;
            if (later.Kind is not (ChangeKind.Update or ChangeKind.Delete) || later.Before is not { } before) return true;
            if (!KeyBytes(before, later.Schema).AsSpan().SequenceEqual(key)) return true;
            if (later.Kind == ChangeKind.Delete) return false;
            key = KeyBytes(later.After!, later.Schema);
            return true;
        }
        for (int i = index + 1; i < transaction.Changes.Count; i++)
            if (!Follow(transaction.Changes[i])) return null;
        if (feed is not null)
        {
            var later = new List<CommittedTransaction>();
            if (feed.TryReadAfterEnd(transaction.EndLsn, int.MaxValue, later) == FeedRead.Transaction)
                foreach (var t in later)
                    foreach (var c in t.Changes)
                        if (!Follow(c)) return null;
        }
        return change.Table.TryGet(key, out var current) ? InLayout(Rules.PlanFor(current.Schema, op), current.View, layout) : null;
    }

    private static byte[] KeyBytes(byte[] row, TableSchema schema)
    {
        var view = new RowView(row);
        var key = new byte[CacheKey.RowKeyLength(view, schema)];
        CacheKey.WriteRowKey(view, schema, key);
        return key;
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
            After = plan.Project(row.View),
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
