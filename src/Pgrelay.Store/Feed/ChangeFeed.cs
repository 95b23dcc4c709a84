using Pgrelay.Core.Model;

namespace Pgrelay.Store.Feed;

/// <summary>
/// The ordered stream of committed transactions. Bounded: it keeps at most a number of transactions and
/// of changes; a reader whose position fell out of it gets <see cref="FeedRead.Lost"/> and must re-sync
/// (the HTTP feed sends a reset event, a sink re-snapshots). Push listeners are called on the writer
/// thread right after a transaction becomes visible, in commit order; they must only enqueue.
/// </summary>
public sealed class ChangeFeed
{
    private readonly object _gate = new();
    private readonly Queue<CommittedTransaction> _retained = new();
    private readonly int _maxTransactions;
    private readonly long _maxChanges;
    private long _retainedChanges;
    private Lsn _lostUpTo;           // readers positioned below this have missed something
    private Lsn _newest;
    private TaskCompletionSource _arrived = NewSignal();
    private volatile Action<CommittedTransaction>[] _listeners = [];

    public ChangeFeed(int maxTransactions = 100_000, long maxChanges = 2_000_000)
    {
        _maxTransactions = maxTransactions;
        _maxChanges = maxChanges;
    }

    public Lsn NewestLsn { get { lock (_gate) return _newest; } }
    public Lsn OldestResumableLsn { get { lock (_gate) return _lostUpTo; } }
    public int RetainedTransactions { get { lock (_gate) return _retained.Count; } }

    /// <summary>Adds a push listener; returns a handle that removes it.</summary>
    public IDisposable Listen(Action<CommittedTransaction> listener)
    {
        lock (_gate) _listeners = [.. _listeners, listener];
        return new Unlisten(this, listener);
    }

    /// <summary>Reads the first retained transaction committed after <paramref name="after"/>.</summary>
    public FeedRead TryRead(Lsn after, out CommittedTransaction? transaction)
    {
        transaction = null;
        lock (_gate)
        {
            if (after < _lostUpTo) return FeedRead.Lost;
            foreach (var t in _retained)   // retained is small enough in practice; ordered by LSN
            {
                if (t.CommitLsn > after) { transaction = t; return FeedRead.Transaction; }
            }
            return FeedRead.Empty;
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

    // ---- writer side ----

    /// <summary>A fresh snapshot replaced the store's contents: nothing before it can be resumed from.</summary>
    internal void Restart(Lsn snapshotLsn)
    {
        TaskCompletionSource arrived;
        lock (_gate)
        {
            _retained.Clear();
            _retainedChanges = 0;
            _lostUpTo = snapshotLsn;
            _newest = snapshotLsn;
            arrived = _arrived;
            _arrived = NewSignal();
        }
        arrived.TrySetResult();
    }

    internal void Append(CommittedTransaction transaction)
    {
        TaskCompletionSource arrived;
        lock (_gate)
        {
            _retained.Enqueue(transaction);
            _retainedChanges += transaction.Changes.Count;
            _newest = transaction.CommitLsn;
            while (_retained.Count > 1 && (_retained.Count > _maxTransactions || _retainedChanges > _maxChanges))
            {
                var dropped = _retained.Dequeue();
                _retainedChanges -= dropped.Changes.Count;
                _lostUpTo = dropped.CommitLsn;
            }
            arrived = _arrived;
            _arrived = NewSignal();
        }
        arrived.TrySetResult();
        foreach (var listener in _listeners) listener(transaction);
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
