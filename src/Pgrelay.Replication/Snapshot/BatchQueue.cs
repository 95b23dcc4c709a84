namespace Pgrelay.Replication.Snapshot;

/// <summary>
/// A bounded hand-off between the copier threads and the loader thread that blocks the caller's own thread.
/// <para>
/// Why not a Channel: awaiting one puts every hand-off on the thread pool, and an idle pool worker spins
/// (<c>sched_yield</c>) before it sleeps. Profiled on a 1M-row snapshot, pool workers spinning for batches took about
/// a sixth of the process's CPU on a 2-core machine that the copy's backends also need. Here a waiting thread sleeps in
/// <see cref="Monitor.Wait(object)"/> and is woken only when it has something to do.
/// </para>
/// </summary>
internal sealed class BatchQueue<T> where T : class
{
    private readonly object _gate = new();
    private readonly Queue<T> _items;
    private readonly int _capacity;
    private bool _completed, _takerWaiting;
    private int _adderWaiting;

    /// <summary>How often an adder found the queue full, and the taker found it empty (for the copy's debug log).</summary>
    public int AddWaits { get; private set; }
    public int TakeWaits { get; private set; }

    public BatchQueue(int capacity)
    {
        _capacity = capacity;
        _items = new Queue<T>(capacity);
    }

    /// <summary>Adds an item, blocking while the queue is full. Throws when cancelled or completed meanwhile.</summary>
    public void Add(T item, CancellationToken ct)
    {
        using var wake = ct.CanBeCanceled ? ct.Register(WakeAll) : default;
        lock (_gate)
        {
            while (_items.Count >= _capacity)
            {
                ct.ThrowIfCancellationRequested();
                if (_completed) throw new InvalidOperationException("the snapshot loader stopped");
                AddWaits++;
                _adderWaiting++;
                Monitor.Wait(_gate);
                _adderWaiting--;
            }
            ct.ThrowIfCancellationRequested();
            if (_completed) throw new InvalidOperationException("the snapshot loader stopped");
            _items.Enqueue(item);
            if (_takerWaiting) Monitor.PulseAll(_gate);
        }
    }

    /// <summary>Takes the next item, blocking while the queue is empty; false once it is completed and drained.</summary>
    public bool TryTake(out T item, CancellationToken ct)
    {
        using var wake = ct.CanBeCanceled ? ct.Register(WakeAll) : default;
        lock (_gate)
        {
            while (_items.Count == 0)
            {
                ct.ThrowIfCancellationRequested();
                if (_completed)
                {
                    item = null!;
                    return false;
                }
                TakeWaits++;
                _takerWaiting = true;
                Monitor.Wait(_gate);
                _takerWaiting = false;
            }
            item = _items.Dequeue();
            if (_adderWaiting > 0) Monitor.PulseAll(_gate);
            return true;
        }
    }

    /// <summary>No more items will come (or none will be taken): wakes every waiter.</summary>
    public void Complete()
    {
        lock (_gate)
        {
            _completed = true;
            Monitor.PulseAll(_gate);
        }
    }

    private void WakeAll()
    {
        lock (_gate) Monitor.PulseAll(_gate);
    }
}
