using Pgrelay.Core.Model;

namespace Pgrelay.Store;

/// <summary>The durable consumers registered with a store, and the lowest position they have all acknowledged.</summary>
internal sealed class DurableConsumers
{
    private readonly List<DurableConsumer> _consumers = [];

    public void Add(DurableConsumer consumer)
    {
        lock (_consumers) _consumers.Add(consumer);
    }

    public void Remove(DurableConsumer consumer)
    {
        lock (_consumers) _consumers.Remove(consumer);
    }

    /// <summary><paramref name="appliedEnd"/> lowered to what every consumer has acknowledged.</summary>
    public ulong Floor(ulong appliedEnd)
    {
        ulong safe = appliedEnd;
        lock (_consumers)
            foreach (var c in _consumers) safe = Math.Min(safe, c.Acknowledged.Value);
        return safe;
    }
}
