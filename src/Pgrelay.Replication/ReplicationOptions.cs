using Pgrelay.Core.Changes;
using Pgrelay.Core.Model;
using Pgrelay.Replication.Slots;

namespace Pgrelay.Replication;

/// <summary>What to replicate and how. Validated by <see cref="Validate"/> (the CLI calls it before start).</summary>
public sealed class ReplicationOptions
{
    /// <summary><c>postgres://user:pass@host:port/db?sslmode=...</c>, <c>postgresql://...</c> or an Npgsql connection string.</summary>
    public required string Source { get; set; }

    /// <summary>Publications to replicate (at least one).</summary>
    public IList<string> Publications { get; set; } = new List<string>();

    /// <summary>
    /// The logical slot. Default: one of this instance's own, <c>pgrelay_&lt;database&gt;_&lt;random&gt;</c> (kept in
    /// <see cref="StateDirectory"/> when there is one). A named slot that exists and this instance did not create is refused.
    /// </summary>
    public string? SlotName { get; set; }

    /// <summary>Where this instance remembers the slot it created (file <c>replication-slot</c>), so a restart resumes it.</summary>
    public string? StateDirectory { get; set; }

    /// <summary>How often the publications are compared with the tables held (tables added, removed, reshaped). Zero disables it;
    /// the stream still starts a look when it names a table that is not held.</summary>
    public TimeSpan PublicationPollInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Keep an existing slot instead of dropping it: set when durable consumers (sinks) have checkpoints. The cache is
    /// loaded from a temporary slot's exported snapshot at P, and streaming restarts on the kept slot from its
    /// confirmed_flush_lsn C; the target replays the transactions committed in [C, P) to its durable consumers.
    /// </summary>
    public bool KeepSlot { get; set; }

    /// <summary>
    /// Drop the slot when stopped gracefully, so a stopped pgrelay does not make the server retain WAL. The host turns
    /// it off when durable consumers (sinks) need the slot's position across restarts.
    /// </summary>
    public bool DropSlotOnStop { get; set; } = true;

    /// <summary>
    /// With <see cref="KeepSlot"/>: the lowest checkpoint (end LSN) any durable consumer holds. A slot confirmed beyond it
    /// cannot give that consumer what it missed, so it is dropped and recreated (the consumer starts over). Null: no limit.
    /// </summary>
    public Lsn? ResumeFrom { get; set; }

    /// <summary>
    /// Connections copying the snapshot in parallel. Default: one per core (2 to 8): each connection's rows are
    /// parsed on its own thread, so more connections than cores only adds contention.
    /// </summary>
    public int CopyParallelism { get; set; } = DefaultCopyParallelism;

    public static int DefaultCopyParallelism => Math.Clamp(Environment.ProcessorCount, 2, 8);

    /// <summary>Heap pages (8 KiB each) per ctid range in the snapshot copy: small enough that the ranges spread evenly
    /// over the connections, big enough that a range's COPY start-up is noise.</summary>
    public int CopyRangePages { get; set; } = 1024;

    /// <summary>
    /// Frame the snapshot's COPY data directly from the copy connections' streams (<c>Pgrelay.Postgres.Wire.CopyOutSession</c>)
    /// instead of through Npgsql's one-row-per-read COPY API. Off only to compare the two (benchmarks) or to rule it out.
    /// </summary>
    public bool DirectCopy { get; set; } = true;

    /// <summary>Rows per batch handed to the target during the snapshot.</summary>
    public int CopyBatchRows { get; set; } = 1000;

    /// <summary>How often a logical message is written to the source so an idle or filtered slot advances. Zero disables.</summary>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How often a status update is sent to the server even when nothing changed.</summary>
    public TimeSpan StatusInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>A transaction buffered beyond this many bytes moves its changes to a temp file.</summary>
    public long SpillThresholdBytes { get; set; } = 64L * 1024 * 1024;

    /// <summary>Where spill files go; the system temp folder when null.</summary>
    public string? SpillDirectory { get; set; }

    /// <summary>
    /// Warn (log once per crossing, flag on status) when the slot makes the server keep more WAL than this. 0 turns it off.
    /// </summary>
    public long SlotRetentionWarningBytes { get; set; } = DefaultSlotRetentionWarningBytes;

    public const long DefaultSlotRetentionWarningBytes = 1L << 30;

    /// <summary>How often the WAL the slot holds is read from <c>pg_replication_slots</c>.</summary>
    public TimeSpan SlotCheckInterval { get; set; } = TimeSpan.FromSeconds(10);

    public TimeSpan ReconnectInitialDelay { get; set; } = TimeSpan.FromMilliseconds(500);
    public TimeSpan ReconnectMaxDelay { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long the first start-up keeps retrying a source that cannot be reached for a passing reason (down,
    /// starting up; <see cref="Connection.TransientFailure"/>) before it gives up; zero: for ever.</summary>
    public TimeSpan SourceWait { get; set; } = TimeSpan.Zero;

    /// <summary>Throws <see cref="ReplicationSetupException"/> naming the first bad setting.</summary>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(Source)) throw new ReplicationSetupException("source: no source database given");
        if (Publications.Count == 0 || Publications.Any(string.IsNullOrWhiteSpace))
            throw new ReplicationSetupException("publications: name at least one publication");
        if (SlotName is not null && !SlotNames.IsValid(SlotName))
            throw new ReplicationSetupException($"slot: '{SlotName}' is not a valid slot name (lower-case letters, digits and _; at most 63)");
        if (CopyParallelism is < 1 or > 64) throw new ReplicationSetupException("copy-parallelism: must be between 1 and 64");
        if (CopyRangePages < 1) throw new ReplicationSetupException("copy-range-pages: must be positive");
        if (CopyBatchRows < 1) throw new ReplicationSetupException("copy-batch-rows: must be positive");
        if (HeartbeatInterval < TimeSpan.Zero) throw new ReplicationSetupException("heartbeat-interval: must not be negative");
        if (StatusInterval <= TimeSpan.Zero) throw new ReplicationSetupException("status-interval: must be positive");
        if (PublicationPollInterval < TimeSpan.Zero) throw new ReplicationSetupException("publication-poll-interval: must not be negative");
        if (SlotRetentionWarningBytes < 0) throw new ReplicationSetupException("slot-retention-warning: must not be negative");
        if (SlotCheckInterval <= TimeSpan.Zero) throw new ReplicationSetupException("slot check interval: must be positive");
        if (SpillThresholdBytes < 0) throw new ReplicationSetupException("spill-threshold: must not be negative");
        if (ReconnectInitialDelay <= TimeSpan.Zero || ReconnectMaxDelay < ReconnectInitialDelay)
            throw new ReplicationSetupException("reconnect delays: initial must be positive and not above the maximum");
        if (SourceWait < TimeSpan.Zero) throw new ReplicationSetupException("source-wait: must not be negative");
    }
}
