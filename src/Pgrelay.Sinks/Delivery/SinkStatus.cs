using Pgrelay.Core.Model;

namespace Pgrelay.Sinks.Delivery;

/// <summary>Retrying: a transient failure (network, a restarting target); Failed: one that needs a fix at the target.</summary>
public enum SinkState { Starting, Loading, Streaming, Retrying, Failed, Stopped }

/// <summary>
/// Live figures of one sink, for metrics and the dashboard: plain properties, safe to read from any thread (values may
/// mix moments, which is fine for reporting).
/// </summary>
public sealed class SinkStatus(string name, string type)
{
    private long _state, _events, _batches, _failures, _permanent, _consecutive, _lastErrorTicks, _lastDeliveryTicks, _loadedRows;
    private int _lastErrorPermanent;
    private ulong _checkpoint, _applied;
    private string? _lastError;

    public string Name { get; } = name;
    public string Type { get; } = type;
    public SinkState State { get => (SinkState)Interlocked.Read(ref _state); internal set => Interlocked.Exchange(ref _state, (long)value); }
    /// <summary>End LSN of the last durable checkpoint.</summary>
    public Lsn CheckpointLsn { get => new(Volatile.Read(ref _checkpoint)); internal set => Volatile.Write(ref _checkpoint, value.Value); }
    /// <summary>The store's applied end LSN when last looked at; lag is the WAL distance from the checkpoint to it.</summary>
    public Lsn SourceLsn { get => new(Volatile.Read(ref _applied)); internal set => Volatile.Write(ref _applied, value.Value); }
    public long LagBytes => SourceLsn > CheckpointLsn ? (long)(SourceLsn.Value - CheckpointLsn.Value) : 0;
    public long EventsDelivered => Interlocked.Read(ref _events);
    public long BatchesDelivered => Interlocked.Read(ref _batches);
    public long RowsLoaded => Interlocked.Read(ref _loadedRows);
    /// <summary>Failed delivery attempts since start.</summary>
    public long Failures => Interlocked.Read(ref _failures);
    /// <summary>Failed attempts that retrying alone cannot cure (see <see cref="Failures.IsPermanent"/>), since start.</summary>
    public long PermanentFailures => Interlocked.Read(ref _permanent);
    /// <summary>The last error was permanent: the sink waits for a fix at the target (state <see cref="SinkState.Failed"/>).</summary>
    public bool LastErrorPermanent => Volatile.Read(ref _lastErrorPermanent) != 0;
    /// <summary>Failed attempts since the last success: above zero, the sink is retrying.</summary>
    public long ConsecutiveFailures => Interlocked.Read(ref _consecutive);
    public string? LastError => Volatile.Read(ref _lastError);
    public DateTimeOffset? LastErrorTime => Ticks(ref _lastErrorTicks);
    public DateTimeOffset? LastDeliveryTime => Ticks(ref _lastDeliveryTicks);

    internal void Delivered(int events)
    {
        Interlocked.Add(ref _events, events);
        Interlocked.Increment(ref _batches);
        Interlocked.Exchange(ref _consecutive, 0);
        Interlocked.Exchange(ref _lastDeliveryTicks, DateTimeOffset.UtcNow.UtcTicks);
    }

    internal void Loaded(int rows) => Interlocked.Add(ref _loadedRows, rows);

    internal void Failed(string error, bool permanent = false)
    {
        Interlocked.Increment(ref _failures);
        if (permanent) Interlocked.Increment(ref _permanent);
        Volatile.Write(ref _lastErrorPermanent, permanent ? 1 : 0);
        Interlocked.Increment(ref _consecutive);
        Volatile.Write(ref _lastError, error);
        Interlocked.Exchange(ref _lastErrorTicks, DateTimeOffset.UtcNow.UtcTicks);
    }

    private static DateTimeOffset? Ticks(ref long ticks)
    {
        long t = Interlocked.Read(ref ticks);
        return t == 0 ? null : new DateTimeOffset(t, TimeSpan.Zero);
    }
}
