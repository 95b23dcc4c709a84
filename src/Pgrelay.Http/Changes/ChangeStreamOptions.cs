namespace Pgrelay.Http.Changes;

/// <summary>Tuning of the server-sent change streams. Defaults suit production; tests shorten the heartbeat.</summary>
public sealed class ChangeStreamOptions
{
    /// <summary>A ": keepalive" comment after this much silence, so proxies and load balancers keep idle streams open.</summary>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>
    /// Transactions queued for one live stream while its client reads. The queue holds references to the
    /// feed's shared transactions, so its cost is small; a client that falls this far behind is disconnected
    /// (it reconnects with Last-Event-ID and catches up from the feed) instead of growing memory.
    /// </summary>
    public int LiveQueueCapacity { get; set; } = 4096;

    /// <summary>A client that accepts no bytes for this long is disconnected: its stream must not pin a connection forever.</summary>
    public TimeSpan SlowClientTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Reconnect delay suggested to EventSource clients with a "retry:" field.</summary>
    public TimeSpan ClientRetry { get; set; } = TimeSpan.FromSeconds(1);
}
