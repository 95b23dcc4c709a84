using System.Text;
using Pgrelay.Core.Changes;
using Pgrelay.Core.Model;
using Pgrelay.Store.Feed;
using Pgrelay.Store.Tables;

namespace Pgrelay.Store.Writing;

/// <summary>
/// Numbers the copies that replayed changes of tables without primary key add and take away (the k-th identical row is
/// keyed <c>…/k</c>, README "Keys"). A replayed transaction is not applied: the store already holds the replay window's
/// end, its snapshot at the consistent point P. How many copies of a row existed when a replayed transaction ran is
/// known only counting back from P over the transactions after it, so while the window is open and a table without
/// primary key is held, replayed transactions wait here. They go to the feed, numbered and in order, when the window
/// closes: before the first transaction applied after the snapshot, or when the stream passed P outside a transaction
/// (a heartbeat). Durable consumers cannot confirm past them meanwhile: they are not in the feed.
/// <para>
/// Counting back: an insert added the copy that is the count after it; a delete took away the count after it plus one.
/// Counting back across a TRUNCATE is impossible (the count before it is gone), so changes of that table before it keep
/// copy 1, as before; the truncate that follows clears every consumer's copies anyway. Called under the write lock.
/// </para>
/// </summary>
internal sealed class ReplayCopies(ChangeApplier applier, RowKeys keys)
{
    private readonly List<(Transaction Source, List<AppliedChange> Changes)> _waiting = [];

    public bool Waiting => _waiting.Count > 0;

    public void Hold(Transaction source, List<AppliedChange> changes) => _waiting.Add((source, changes));

    /// <summary>Forgets what waits (a fresh snapshot restarts the feed: consumers start over).</summary>
    public void Discard() => _waiting.Clear();

    /// <summary>Numbers the waiting transactions' copies, counting back from what the tables hold now, and returns them in
    /// commit order, marked as replayed.</summary>
    public List<CommittedTransaction> Release()
    {
        var counts = new Dictionary<string, int>();
        var truncated = new HashSet<StoredTable>();
        for (int t = _waiting.Count - 1; t >= 0; t--)
        {
            var changes = _waiting[t].Changes;
            for (int i = changes.Count - 1; i >= 0; i--)
            {
                var change = changes[i];
                if (change.Kind == ChangeKind.Truncate) truncated.Add(change.Table);
                if (change.Schema.HasPrimaryKey || truncated.Contains(change.Table)) continue;
                int after = change.AfterCopy, before = change.BeforeCopy;
                if (change.Kind is ChangeKind.Insert or ChangeKind.Update && change.After is { } added)
                    after = Math.Max(1, Count(counts, change.Table, change.Schema, added, -1));
                if (change.Kind is ChangeKind.Delete or ChangeKind.Update && change.Before is { } removed)
                    before = Math.Max(1, Count(counts, change.Table, change.Schema, removed, +1));
                changes[i] = change with { BeforeCopy = before, AfterCopy = after };
            }
        }
        var released = _waiting.Select(w => new CommittedTransaction(w.Source.Xid, w.Source.CommitLsn, w.Source.EndLsn,
            w.Source.CommitTime, w.Changes, Replayed: true)).ToList();
        _waiting.Clear();
        return released;
    }

    /// <summary>
    /// Steps one row's count back over one change and returns the copy number it concerns: for an insert (<paramref
    /// name="step"/> -1) the count after it, for a delete (+1) the count before it.
    /// </summary>
    private int Count(Dictionary<string, int> counts, StoredTable table, TableSchema schema, byte[] row, int step)
    {
        var key = keys.Of(row, schema, out int hash);
        // Latin-1 maps every byte to one char: a lossless dictionary key for the key bytes.
        var name = string.Concat(table.Schema.RelationId.ToString(), "\0", Encoding.Latin1.GetString(key));
        if (!counts.TryGetValue(name, out int count)) count = applier.CopiesHeld(table, key, hash);
        int copy = step < 0 ? count : count + 1;
        counts[name] = count + step;
        return copy;
    }
}
