using Pgrelay.Core.Changes;
using Pgrelay.Core.Model;
using Pgrelay.Replication.Streaming;

namespace Pgrelay.Replication.Reloads;

/// <summary>
/// One table's changes from the committed transactions the stream applied since its load was decided, kept for the
/// load: those committed at or after the load's consistent point are not in its copy. Rows are copied (the store stamps
/// the arrays it installs). Past <c>spillThreshold</c> bytes the changes move to a <see cref="SpillFile"/>, as big
/// transactions do. Writer thread only.
/// </summary>
internal sealed class ReloadTail(long spillThreshold, string spillDirectory) : IDisposable
{
    private const int ChangeOverhead = 64;

    private readonly List<TailTransaction> _transactions = [];
    private readonly List<RowChange> _memory = [];
    private long _memoryBytes;
    private SpillFile? _spill;
    private int _pending;      // changes added for a transaction that has not committed yet

    public readonly record struct TailTransaction(uint Xid, Lsn CommitLsn, Lsn EndLsn, DateTimeOffset CommitTime, int Count);

    public int TransactionCount => _transactions.Count;
    private int Total => (_spill?.Count ?? 0) + _memory.Count;

    public void Add(in RowChange change)
    {
        var copy = change with { NewRow = (byte[]?)change.NewRow?.Clone(), OldRow = (byte[]?)change.OldRow?.Clone() };
        _memory.Add(copy);
        _pending++;
        _memoryBytes += ChangeOverhead + (copy.NewRow?.Length ?? 0) + (copy.OldRow?.Length ?? 0);
        if (_memoryBytes > spillThreshold) Spill();
    }

    /// <summary>The changes added since the last commit belong to this transaction.</summary>
    public void Commit(uint xid, Lsn commitLsn, Lsn endLsn, DateTimeOffset commitTime)
    {
        if (_pending > 0) _transactions.Add(new TailTransaction(xid, commitLsn, endLsn, commitTime, _pending));
        _pending = 0;
    }

    /// <summary>Forgets changes of a transaction that never committed here (its apply failed; it comes again).</summary>
    public void DropPending()
    {
        if (_pending == 0) return;
        if (_pending <= _memory.Count)
        {
            _memory.RemoveRange(_memory.Count - _pending, _pending);
        }
        else
        {
            // Part of it was spilled: read back what is committed and start the file over (rare).
            var kept = ReadChanges().Take(Total - _pending).ToList();
            _spill!.Dispose();
            _spill = null;
            _memory.Clear();
            _memory.AddRange(kept);
        }
        _memoryBytes = _memory.Sum(c => ChangeOverhead + (long)(c.NewRow?.Length ?? 0) + (c.OldRow?.Length ?? 0));
        _pending = 0;
    }

    /// <summary>The committed transactions in commit order, each with its changes (read back from disk when spilled).</summary>
    public IEnumerable<(TailTransaction Transaction, List<RowChange> Changes)> Read()
    {
        using var changes = ReadChanges().GetEnumerator();
        foreach (var t in _transactions)
        {
            var list = new List<RowChange>(t.Count);
            for (int i = 0; i < t.Count && changes.MoveNext(); i++) list.Add(changes.Current);
            yield return (t, list);
        }
    }

    private IEnumerable<RowChange> ReadChanges()
    {
        if (_spill is not null)
            foreach (var c in _spill.ReadAll()) yield return c;
        foreach (var c in _memory) yield return c;
    }

    private void Spill()
    {
        _spill ??= new SpillFile(spillDirectory);
        foreach (var c in _memory) _spill.Append(c);
        _memory.Clear();
        _memoryBytes = 0;
    }

    public void Dispose()
    {
        _spill?.Dispose();
        _memory.Clear();
        _transactions.Clear();
    }
}
