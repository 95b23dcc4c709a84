using Pgrelay.Core.Changes;
using Pgrelay.Core.Model;

namespace Pgrelay.Replication.Streaming;

/// <summary>
/// The changes of one source transaction until it commits. Memory is bounded: past
/// <c>spillThreshold</c> bytes the changes so far move to a <see cref="SpillFile"/>, and the committed
/// transaction reads them back lazily. For streamed transactions it also remembers where each
/// subtransaction's changes start, so a rolled-back savepoint can be cut off (as PostgreSQL's apply worker does).
/// It also holds the relation shapes this transaction announced, which become current only if it commits.
/// </summary>
internal sealed class TransactionBuffer : IDisposable
{
    // Rough per-change overhead on top of the row bytes: list slot, RowChange struct, array headers.
    private const int ChangeOverhead = 64;

    private readonly long _spillThreshold;
    private readonly string _spillDirectory;
    private readonly List<RowChange> _memory = new();
    private readonly List<SubtransactionStart> _subtransactions = new();
    private long _memoryBytes;
    private SpillFile? _spill;
    private bool _consumed;

    private sealed class SubtransactionStart(uint xid, int index)
    {
        public uint Xid { get; } = xid;
        /// <summary>Index of its first change in the whole transaction.</summary>
        public int Index { get; } = index;
        /// <summary>Byte offset of that change in the spill file, once it has been spilled.</summary>
        public long SpillPosition { get; set; } = -1;
    }

    public TransactionBuffer(uint xid, long spillThreshold, string spillDirectory)
    {
        Xid = xid;
        _spillThreshold = spillThreshold;
        _spillDirectory = spillDirectory;
    }

    public uint Xid { get; }
    public int Count => (_spill?.Count ?? 0) + _memory.Count;
    public bool Spilled => _spill is not null;
    public long MemoryBytes => _memoryBytes;

    /// <summary>Relation shapes announced inside this transaction, by relation id.</summary>
    public Dictionary<uint, TableSchema> Relations { get; } = new();

    /// <summary>Payloads of this instance's reload markers written inside this transaction (see Reloads.ReloadMarker).</summary>
    public List<string> Markers { get; } = new();

    /// <summary>Adds a change made by (sub)transaction <paramref name="changeXid"/> (the top xid or 0 when unknown).</summary>
    public void Add(in RowChange change, uint changeXid = 0)
    {
        if (_consumed) throw new InvalidOperationException("transaction already handed over");
        if (changeXid != 0 && changeXid != Xid && !HasSubtransaction(changeXid))
            _subtransactions.Add(new SubtransactionStart(changeXid, Count));
        _memory.Add(change);
        _memoryBytes += ChangeOverhead + (change.NewRow?.Length ?? 0) + (change.OldRow?.Length ?? 0);
        if (_memoryBytes > _spillThreshold) SpillMemory();
    }

    /// <summary>Drops the changes of a rolled-back subtransaction and of every subtransaction that started after it.</summary>
    public void AbortSubtransaction(uint subXid)
    {
        int at = _subtransactions.FindIndex(s => s.Xid == subXid);
        if (at < 0) return; // it made no changes we saw
        var start = _subtransactions[at];
        _subtransactions.RemoveRange(at, _subtransactions.Count - at);
        int spilled = _spill?.Count ?? 0;
        if (start.Index >= spilled)
        {
            int keep = start.Index - spilled;
            for (int i = keep; i < _memory.Count; i++)
                _memoryBytes -= ChangeOverhead + (_memory[i].NewRow?.Length ?? 0) + (_memory[i].OldRow?.Length ?? 0);
            _memory.RemoveRange(keep, _memory.Count - keep);
        }
        else
        {
            _spill!.Truncate(start.SpillPosition, start.Index);
            _memory.Clear();
            _memoryBytes = 0;
        }
    }

    /// <summary>The changes in order: first those read back from the spill file, then those still in memory. Enumerate once.</summary>
    public IEnumerable<RowChange> TakeChanges()
    {
        if (_consumed) throw new InvalidOperationException("transaction already handed over");
        _consumed = true;
        return _spill is null ? _memory : Concat(_spill.ReadAll(), _memory);
    }

    private static IEnumerable<RowChange> Concat(IEnumerable<RowChange> first, List<RowChange> second)
    {
        foreach (var c in first) yield return c;
        foreach (var c in second) yield return c;
    }

    private bool HasSubtransaction(uint xid)
    {
        // Few subtransactions make changes; a linear scan from the end (the likely one) is enough.
        for (int i = _subtransactions.Count - 1; i >= 0; i--)
            if (_subtransactions[i].Xid == xid) return true;
        return false;
    }

    private void SpillMemory()
    {
        _spill ??= new SpillFile(_spillDirectory);
        int firstIndex = _spill.Count;
        int next = 0;
        for (int i = 0; i < _memory.Count; i++)
        {
            // Record where a subtransaction starting here lands in the file, for a later rollback to it.
            while (next < _subtransactions.Count && _subtransactions[next].Index < firstIndex + i) next++;
            for (int s = next; s < _subtransactions.Count && _subtransactions[s].Index == firstIndex + i; s++)
                _subtransactions[s].SpillPosition = _spill.Position;
            _spill.Append(_memory[i]);
        }
        _memory.Clear();
        _memoryBytes = 0;
    }

    public void Dispose()
    {
        _spill?.Dispose();
        _memory.Clear();
    }
}
