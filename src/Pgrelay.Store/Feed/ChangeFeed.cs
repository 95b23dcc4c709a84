using Pgrelay.Core.Model;

namespace Pgrelay.Store.Feed;

/// <summary>
/// The ordered stream of committed transactions. Bounded: it keeps at most a number of transactions, of
/// changes and of bytes of row images (<see cref="MaxRetainedBytes"/>; the newest transaction is kept whatever
/// its size); a reader whose position fell out of it gets <see cref="FeedRead.Lost"/> and must re-sync
/// (the HTTP feed sends a reset event, a sink re-snapshots). Push listeners are called on the writer
/// thread right after a transaction becomes visible, in commit order; they must only enqueue.
/// </summary>
/// <remarks>
/// Two ways to name a position. Live readers (SSE, pub/sub) use commit LSNs: "everything committed at or
/// below X". Durable readers (sinks) use end LSNs, the unit the slot is confirmed in: "every transaction whose
/// commit record ends at or below X" — a checkpoint's end LSN maps onto the slot's confirmed_flush_lsn
/// without any guessing, which is what makes resuming into replayed transactions exact.
/// </remarks>
public sealed class ChangeFeed
{
    private readonly object _gate = new();
    // Ordered by LSN; _head marks the oldest retained entry (a list, not a queue, so reads can binary-search).
    private readonly List<CommittedTransaction> _retained = [];
    private int _head;
    private readonly int _maxTransactions;
    private readonly long _maxChanges;
    private long _retainedChanges;
    private long _retainedBytes;
    private long _maxBytes = DefaultMaxRetainedBytes;
    private Lsn _lostUpTo;           // readers positioned (by commit LSN) below this have missed something
    private Lsn _lostEnd;            // readers positioned (by end LSN) below this have missed something
    private Lsn _newest, _newestEnd;
    private Lsn _replayBelow;        // the snapshot a replay leads up to, until the first transaction applied after it
    private TaskCompletionSource _arrived = NewSignal();
    private volatile Action<CommittedTransaction>[] _listeners = [];

    public ChangeFeed(int maxTransactions = 100_000, long maxChanges = 2_000_000)
    {
        _maxTransactions = maxTransactions;
        _maxChanges = maxChanges;
    }

    public Lsn NewestLsn { get { lock (_gate) return _newest; } }
    public Lsn NewestEndLsn { get { lock (_gate) return _newestEnd; } }
    public Lsn OldestResumableLsn { get { lock (_gate) return _lostUpTo; } }
    /// <summary>The lowest end-LSN position <see cref="TryReadAfterEnd"/> still serves.</summary>
    public Lsn OldestResumableEndLsn { get { lock (_gate) return _lostEnd; } }
    public int RetainedTransactions { get { lock (_gate) return _retained.Count - _head; } }

    /// <summary>
    /// True while a replay may still be coming: after a snapshot that opened a replay window, until a transaction is
    /// applied after the snapshot or the stream was idle (<paramref name="idleLsn"/>: fully processed, nothing pending) at
    /// or past it. Until then the feed may lack transactions the store's rows already reflect.
    /// </summary>
    public bool Replaying(Lsn idleLsn)
    {
        lock (_gate) return _replayBelow != Lsn.Zero && idleLsn < _replayBelow;
    }

    public const long DefaultMaxRetainedBytes = 256L * 1024 * 1024;

    /// <summary>
    /// Most bytes the retained transactions may hold (see <see cref="SizeOf"/>); older transactions go first. Without
    /// it, a few thousand updates of a big row keep gigabytes alive, since each keeps its old and new versions.
    /// Set before the feed is used (the host does it from <c>feed-max-bytes</c>).
    /// </summary>
    public long MaxRetainedBytes
    {
        get { lock (_gate) return _maxBytes; }
        set
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 1);
            lock (_gate) _maxBytes = value;
        }
    }

    /// <summary>What the retained transactions hold, as <see cref="SizeOf"/> counts it.</summary>
    public long RetainedBytes { get { lock (_gate) return _retainedBytes; } }

    private const int ChangeOverhead = 64, TransactionOverhead = 128;

    /// <summary>
    /// The memory a retained transaction keeps alive: its row images (before and after) plus a fixed overhead per
    /// change and per transaction. An upper bound: an image shared by two changes (one update's after is the next one's
    /// before) or still held by the store counts in full, so the feed never holds more than it says.
    /// </summary>
    public static long SizeOf(CommittedTransaction transaction)
    {
        long bytes = TransactionOverhead;
        var changes = transaction.Changes;
        for (int i = 0; i < changes.Count; i++)
        {
            var change = changes[i];
            bytes += ChangeOverhead + (change.Before?.Length ?? 0) + (change.After?.Length ?? 0);
        }
        return bytes;
    }

    /// <summary>Adds a push listener; returns a handle that removes it.</summary>
    public IDisposable Listen(Action<CommittedTransaction> listener)
    {
        lock (_gate) _listeners = [.. _listeners, listener];
        return new Unlisten(this, listener);
    }

    /// <summary>Reads the first retained transaction committed after <paramref name="after"/>.</summary>
    public FeedRead TryRead(Lsn after, out CommittedTransaction? transaction)
    {
        lock (_gate)
        {
            var read = Locate(after, byEnd: false, out int i);
            transaction = read == FeedRead.Transaction ? _retained[i] : null;
            return read;
        }
    }

    /// <summary>
    /// Reads the first retained transaction whose commit record ends after <paramref name="afterEnd"/>: the position of a
    /// reader that has every transaction ending at or below it (a durable checkpoint).
    /// </summary>
    public FeedRead TryReadAfterEnd(Lsn afterEnd, out CommittedTransaction? transaction)
    {
        lock (_gate)
        {
            var read = Locate(afterEnd, byEnd: true, out int i);
            transaction = read == FeedRead.Transaction ? _retained[i] : null;
            return read;
        }
    }

    /// <summary>Reads up to <paramref name="max"/> consecutive transactions after an end-LSN position (see <see cref="TryReadAfterEnd"/>).</summary>
    public FeedRead TryReadAfterEnd(Lsn afterEnd, int max, List<CommittedTransaction> output)
    {
        lock (_gate)
        {
            var read = Locate(afterEnd, byEnd: true, out int i);
            if (read == FeedRead.Transaction)
                for (int n = 0; n < max && i < _retained.Count; n++, i++) output.Add(_retained[i]);
            return read;
        }
    }

    /// <summary>Completes when something newer than <paramref name="after"/> arrives (or was lost).</summary>
    public Task WaitAsync(Lsn after, CancellationToken cancellation)
    {
        Task signal;
        lock (_gate)
        {
            if (_newest > after || after < _lostUpTo) return Task.CompletedTask;
            signal = _arrived.Task;
        }
        return signal.WaitAsync(cancellation);
    }

    /// <summary>Completes when a transaction ending after <paramref name="afterEnd"/> arrives (or the position was lost).</summary>
    public Task WaitAfterEndAsync(Lsn afterEnd, CancellationToken cancellation)
    {
        Task signal;
        lock (_gate)
        {
            if (_newestEnd > afterEnd || afterEnd < _lostEnd) return Task.CompletedTask;
            signal = _arrived.Task;
        }
        return signal.WaitAsync(cancellation);
    }

    // ---- writer side ----

    /// <summary>
    /// A fresh snapshot replaced the store's contents: nothing before it can be resumed from — except, when
    /// <paramref name="replayFromEnd"/> is given, durable readers at or above it: the transactions between it and the
    /// snapshot are about to be replayed into the feed (<see cref="AppendReplay"/>).
    /// </summary>
    internal void Restart(Lsn snapshotLsn, Lsn? replayFromEnd = null)
    {
        TaskCompletionSource arrived;
        lock (_gate)
        {
            _retained.Clear();
            _head = 0;
            _retainedChanges = 0;
            _retainedBytes = 0;
            _lostUpTo = snapshotLsn;
            _newest = snapshotLsn;
            _lostEnd = replayFromEnd is { } from && from < snapshotLsn ? from : snapshotLsn;
            _newestEnd = _lostEnd;
            _replayBelow = _lostEnd < snapshotLsn ? snapshotLsn : Lsn.Zero;
            arrived = _arrived;
            _arrived = NewSignal();
        }
        arrived.TrySetResult();
    }

    internal void Append(CommittedTransaction transaction)
    {
        lock (_gate) _replayBelow = Lsn.Zero;   // applied after the snapshot: every replayed transaction came before it
        Add(transaction);
        foreach (var listener in _listeners) listener(transaction);
    }

    /// <summary>
    /// A transaction the snapshot already holds, passed on for durable readers that are behind the snapshot. Not
    /// pushed to listeners: nothing in the store changed. Arrives before anything applied after the snapshot.
    /// </summary>
    internal void AppendReplay(CommittedTransaction transaction) => Add(transaction);

    private void Add(CommittedTransaction transaction)
    {
        long size = SizeOf(transaction);   // outside the lock: readers need not wait while a big transaction is measured
        TaskCompletionSource arrived;
        lock (_gate)
        {
            _retained.Add(transaction);
            _retainedChanges += transaction.Changes.Count;
            _retainedBytes += size;
            _newest = Lsn.Max(_newest, transaction.CommitLsn);
            _newestEnd = Lsn.Max(_newestEnd, transaction.EndLsn);
            while (_retained.Count - _head > 1 &&
                   (_retained.Count - _head > _maxTransactions || _retainedChanges > _maxChanges || _retainedBytes > _maxBytes))
            {
                var dropped = _retained[_head];
                _retained[_head++] = null!;
                _retainedChanges -= dropped.Changes.Count;
                _retainedBytes -= SizeOf(dropped);
                _lostUpTo = Lsn.Max(_lostUpTo, dropped.CommitLsn);
                _lostEnd = Lsn.Max(_lostEnd, dropped.EndLsn);
            }
            if (_head > 1024 && _head > (_retained.Count >> 1))
            {
                _retained.RemoveRange(0, _head);
                _head = 0;
            }
            arrived = _arrived;
            _arrived = NewSignal();
        }
        arrived.TrySetResult();
    }

    /// <summary>Where a reader at <paramref name="position"/> (a commit LSN, or an end LSN when <paramref name="byEnd"/>)
    /// goes on: lost, nothing yet, or the index of its next transaction. Called under the lock.</summary>
    private FeedRead Locate(Lsn position, bool byEnd, out int index)
    {
        index = -1;
        if (position < (byEnd ? _lostEnd : _lostUpTo)) return FeedRead.Lost;
        index = FirstAbove(position, byEnd);
        return index < 0 ? FeedRead.Empty : FeedRead.Transaction;
    }

    private int FirstAbove(Lsn position, bool byEnd)
    {
        int lo = _head, hi = _retained.Count;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            var t = _retained[mid];
            if ((byEnd ? t.EndLsn : t.CommitLsn) > position) hi = mid;
            else lo = mid + 1;
        }
        return lo < _retained.Count ? lo : -1;
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private sealed class Unlisten(ChangeFeed feed, Action<CommittedTransaction> listener) : IDisposable
    {
        public void Dispose()
        {
            lock (feed._gate) feed._listeners = feed._listeners.Where(l => l != listener).ToArray();
        }
    }
}
