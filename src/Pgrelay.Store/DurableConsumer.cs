using Pgrelay.Core.Model;

namespace Pgrelay.Store;

/// <summary>
/// A consumer that must not lose changes across a restart (a sink with a checkpoint). It acknowledges the
/// end LSN of each transaction once it is durable; the replication slot is never confirmed past the
/// slowest one.
/// </summary>
public sealed class DurableConsumer : IDisposable
{
    private readonly ReplicatedStore _store;
    private ulong _acknowledged;

    internal DurableConsumer(ReplicatedStore store, string name, Lsn start)
    {
        _store = store;
        Name = name;
        _acknowledged = start.Value;
    }

    public string Name { get; }
    public Lsn Acknowledged => new(Volatile.Read(ref _acknowledged));

    public void Acknowledge(Lsn endLsn)
    {
        ulong current;
        do
        {
            current = Volatile.Read(ref _acknowledged);
            if (endLsn.Value <= current) return;
        } while (Interlocked.CompareExchange(ref _acknowledged, endLsn.Value, current) != current);
    }

    public void Dispose() => _store.Unregister(this);
}
