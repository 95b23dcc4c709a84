using Pgrelay.Core.Model;

namespace Pgrelay.Core.Status;

/// <summary>
/// Checkpoint figures for /status, INFO and the dashboard, written by the store's checkpointer and replication's
/// start-up. Plain fields with Volatile/Interlocked access: reads may mix moments, which is fine for reporting.
/// </summary>
public sealed class CheckpointStatus
{
    private ulong _lastLsn, _loadedLsn, _pendingLsn;
    private long _written, _failures, _useless, _lastBytes, _lastRows, _lastWriteMs, _loadMs, _loadedRows, _lastWrittenTicks;
    private string? _lastUselessReason, _lastError, _state;

    public bool Enabled { get; set; }
    public string? Directory { get; set; }
    public TimeSpan Interval { get; set; }
    /// <summary>A checkpoint is also written once this much WAL was applied since the last one (0: by interval only).</summary>
    public long WalBytes { get; set; }

    /// <summary>idle, writing, waiting-for-consumers (the file is written; it becomes valid once every durable consumer
    /// has acknowledged its LSN), or off.</summary>
    public string State { get => Volatile.Read(ref _state) ?? (Enabled ? "idle" : "off"); set => Volatile.Write(ref _state, value); }

    /// <summary>The newest valid checkpoint's LSN (K): the slot is never confirmed past it.</summary>
    public Lsn LastLsn { get => new(Volatile.Read(ref _lastLsn)); set => Volatile.Write(ref _lastLsn, value.Value); }
    /// <summary>The LSN of a checkpoint being written or waiting for consumers (zero when none).</summary>
    public Lsn PendingLsn { get => new(Volatile.Read(ref _pendingLsn)); set => Volatile.Write(ref _pendingLsn, value.Value); }
    public DateTimeOffset? LastWritten
    {
        get => Interlocked.Read(ref _lastWrittenTicks) is var t and > 0 ? new DateTimeOffset(t, TimeSpan.Zero) : null;
        set => Interlocked.Exchange(ref _lastWrittenTicks, value?.UtcTicks ?? 0);
    }
    public long LastBytes => Interlocked.Read(ref _lastBytes);
    public long LastRows => Interlocked.Read(ref _lastRows);
    public long LastWriteMilliseconds => Interlocked.Read(ref _lastWriteMs);
    public long Written => Interlocked.Read(ref _written);
    public long Failures => Interlocked.Read(ref _failures);
    public string? LastError { get => Volatile.Read(ref _lastError); set => Volatile.Write(ref _lastError, value); }

    /// <summary>The LSN of the checkpoint this process started from (zero: it took a snapshot).</summary>
    public Lsn LoadedLsn { get => new(Volatile.Read(ref _loadedLsn)); set => Volatile.Write(ref _loadedLsn, value.Value); }
    public long LoadedRows => Interlocked.Read(ref _loadedRows);
    public long LoadMilliseconds => Interlocked.Read(ref _loadMs);

    /// <summary>Checkpoints found useless at start-up (torn, corrupt, another source, changed schemas, a slot that moved).</summary>
    public long Useless => Interlocked.Read(ref _useless);
    public string? LastUselessReason => Volatile.Read(ref _lastUselessReason);

    public void CountWritten(Lsn lsn, long rows, long bytes, long milliseconds)
    {
        LastLsn = lsn;
        Interlocked.Exchange(ref _lastRows, rows);
        Interlocked.Exchange(ref _lastBytes, bytes);
        Interlocked.Exchange(ref _lastWriteMs, milliseconds);
        LastWritten = DateTimeOffset.UtcNow;
        Interlocked.Increment(ref _written);
    }

    public void CountFailure(string error)
    {
        LastError = error;
        Interlocked.Increment(ref _failures);
    }

    public void CountUseless(string reason)
    {
        Volatile.Write(ref _lastUselessReason, reason);
        Interlocked.Increment(ref _useless);
    }

    public void Loaded(Lsn lsn, long rows, long milliseconds)
    {
        LoadedLsn = lsn;
        Interlocked.Exchange(ref _loadedRows, rows);
        Interlocked.Exchange(ref _loadMs, milliseconds);
    }
}
