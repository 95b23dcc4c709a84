using Pgrelay.Core.Model;

namespace Pgrelay.Core.Status;

/// <summary>
/// Live replication figures, written by the replication room and read by anyone who reports
/// (HTTP metrics, Redis INFO, the dashboard). Plain fields with Interlocked/Volatile access: reads
/// may mix moments, which is fine for reporting.
/// </summary>
public sealed class ReplicationStatus
{
    private long _phase;
    private ulong _consistentPoint, _receivedLsn, _confirmedLsn, _serverWalEnd, _appliedLsn, _idleLsn;
    private long _lastCommitTicks, _lastMessageTicks, _changesApplied, _transactionsApplied, _reconnects;
    private long _snapshotTablesTotal, _snapshotTablesDone, _snapshotRowsCopied, _snapshotRowsEstimated;
    private string? _lastError;
    private SlotRetention? _retention, _retentionAtStart;
    private long _retentionWarningBytes;
    private int _retentionWarning;

    public string SlotName { get; set; } = "";

    /// <summary>The store's checkpoints (off unless a state directory and an interval are set).</summary>
    public CheckpointStatus Checkpoints { get; } = new();

    /// <summary>When each start-up step ended (the command line sets one that counts from the process's exec).</summary>
    public StartupTimeline Startup { get; init; } = new();
    public int ProtocolVersion { get; set; }
    public int ServerVersionNum { get; set; }

    public ReplicationPhase Phase { get => (ReplicationPhase)Interlocked.Read(ref _phase); set => Interlocked.Exchange(ref _phase, (long)value); }
    public string? LastError { get => Volatile.Read(ref _lastError); set => Volatile.Write(ref _lastError, value); }

    public Lsn ConsistentPoint { get => new(Volatile.Read(ref _consistentPoint)); set => Volatile.Write(ref _consistentPoint, value.Value); }
    /// <summary>Highest WAL position received from the server.</summary>
    public Lsn ReceivedLsn { get => new(Volatile.Read(ref _receivedLsn)); set => Volatile.Write(ref _receivedLsn, value.Value); }
    /// <summary>Commit LSN of the last transaction applied to the target.</summary>
    public Lsn AppliedLsn { get => new(Volatile.Read(ref _appliedLsn)); set => Volatile.Write(ref _appliedLsn, value.Value); }
    /// <summary>What we last reported to the server as flushed (the slot's confirmed_flush_lsn).</summary>
    public Lsn ConfirmedLsn { get => new(Volatile.Read(ref _confirmedLsn)); set => Volatile.Write(ref _confirmedLsn, value.Value); }
    /// <summary>The server's WAL end as of its last message (keepalive or XLogData).</summary>
    public Lsn ServerWalEnd { get => new(Volatile.Read(ref _serverWalEnd)); set => Volatile.Write(ref _serverWalEnd, value.Value); }

    /// <summary>
    /// A server position the stream had fully processed with no transaction pending (heartbeats, keepalives and
    /// unpublished WAL move it; commits do not). Without it an idle relay would look further behind every second.
    /// </summary>
    public Lsn IdleLsn { get => new(Volatile.Read(ref _idleLsn)); set => Volatile.Write(ref _idleLsn, value.Value); }

    /// <summary>How far the stream has got: the last applied commit or, when idle, the position it was idle at.</summary>
    public Lsn CaughtUpLsn => Lsn.Max(AppliedLsn, IdleLsn);

    /// <summary>Source commit time of the last applied transaction.</summary>
    public DateTimeOffset LastCommitTime
    {
        get => new(Interlocked.Read(ref _lastCommitTicks), TimeSpan.Zero);
        set => Interlocked.Exchange(ref _lastCommitTicks, value.UtcTicks);
    }

    public DateTimeOffset LastMessageTime
    {
        get => new(Interlocked.Read(ref _lastMessageTicks), TimeSpan.Zero);
        set => Interlocked.Exchange(ref _lastMessageTicks, value.UtcTicks);
    }

    public long ChangesApplied => Interlocked.Read(ref _changesApplied);
    public long TransactionsApplied => Interlocked.Read(ref _transactionsApplied);
    public long Reconnects => Interlocked.Read(ref _reconnects);
    public void CountTransaction(int changes)
    {
        Interlocked.Add(ref _changesApplied, changes);
        Interlocked.Increment(ref _transactionsApplied);
    }
    public void CountReconnect() => Interlocked.Increment(ref _reconnects);

    public long SnapshotTablesTotal { get => Interlocked.Read(ref _snapshotTablesTotal); set => Interlocked.Exchange(ref _snapshotTablesTotal, value); }
    public long SnapshotTablesDone => Interlocked.Read(ref _snapshotTablesDone);
    public long SnapshotRowsCopied => Interlocked.Read(ref _snapshotRowsCopied);
    /// <summary>Sum of pg_class.reltuples over published tables: an estimate for progress bars.</summary>
    public long SnapshotRowsEstimated { get => Interlocked.Read(ref _snapshotRowsEstimated); set => Interlocked.Exchange(ref _snapshotRowsEstimated, value); }
    public void CountSnapshotRows(long rows) => Interlocked.Add(ref _snapshotRowsCopied, rows);
    public void CountSnapshotTableDone() => Interlocked.Increment(ref _snapshotTablesDone);

    public void ResetSnapshotProgress()
    {
        Interlocked.Exchange(ref _snapshotTablesDone, 0);
        Interlocked.Exchange(ref _snapshotRowsCopied, 0);
    }

    private TableReloadStatus[] _reloads = [];
    private long _resnapshots, _publicationChecks;

    /// <summary>Completed looks at the publications' membership (ALTER PUBLICATION is not in the stream): a reader that
    /// needs every membership change committed before some moment seen waits until this has grown by two.</summary>
    public long PublicationChecks => Interlocked.Read(ref _publicationChecks);

    public void PublicationChecked() => Interlocked.Increment(ref _publicationChecks);
    private string? _lastResnapshotReason;

    /// <summary>Tables being loaded beside the stream right now.</summary>
    public IReadOnlyList<TableReloadStatus> Reloads => Volatile.Read(ref _reloads);

    public void AddReload(TableReloadStatus reload)
    {
        lock (this) Volatile.Write(ref _reloads, [.. _reloads, reload]);
    }

    public void RemoveReload(TableReloadStatus reload)
    {
        lock (this) Volatile.Write(ref _reloads, _reloads.Where(r => !ReferenceEquals(r, reload)).ToArray());
    }

    /// <summary>Fresh snapshots taken after the first one because the slot could not give what the store lacked
    /// (moved past it by someone else, dropped, invalidated) or the stream could not be decoded.</summary>
    public long Resnapshots => Interlocked.Read(ref _resnapshots);
    public string? LastResnapshotReason => Volatile.Read(ref _lastResnapshotReason);

    public void CountResnapshot(string reason)
    {
        Volatile.Write(ref _lastResnapshotReason, reason);
        Interlocked.Increment(ref _resnapshots);
    }

    /// <summary>The latest reading of the WAL the slot holds on the server; null before the first.</summary>
    public SlotRetention? Retention { get => Volatile.Read(ref _retention); set => Volatile.Write(ref _retention, value); }

    /// <summary>What the slot held when this process started, before anything was changed: WAL kept while pgrelay was down.</summary>
    public SlotRetention? RetentionAtStart { get => Volatile.Read(ref _retentionAtStart); set => Volatile.Write(ref _retentionAtStart, value); }

    /// <summary>The <c>slot-retention-warning</c> threshold in bytes; 0 when off.</summary>
    public long RetentionWarningBytes { get => Interlocked.Read(ref _retentionWarningBytes); set => Interlocked.Exchange(ref _retentionWarningBytes, value); }

    /// <summary>The latest reading is above <see cref="RetentionWarningBytes"/>.</summary>
    public bool RetentionWarning { get => Volatile.Read(ref _retentionWarning) != 0; set => Volatile.Write(ref _retentionWarning, value ? 1 : 0); }

    /// <summary>Bytes of WAL the server has that we have not applied.</summary>
    public ulong LagBytes
    {
        get
        {
            ulong end = ServerWalEnd.Value, applied = CaughtUpLsn.Value;
            return end > applied ? end - applied : 0;
        }
    }

    /// <summary>Seconds between now and the source commit of the last applied change while behind; 0 when caught up.</summary>
    public double LagSeconds(DateTimeOffset now)
    {
        if (Phase != ReplicationPhase.Streaming) return 0;
        if (ReceivedLsn <= CaughtUpLsn) return 0;
        var last = LastCommitTime;
        return last.UtcTicks == 0 ? 0 : Math.Max(0, (now - last).TotalSeconds);
    }
}
