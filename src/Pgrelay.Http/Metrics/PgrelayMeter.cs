using System.Diagnostics.Metrics;
using Pgrelay.Core.Status;
using Pgrelay.Store;

namespace Pgrelay.Http.Metrics;

/// <summary>
/// The "Pgrelay" meter: observable instruments that read the store and the replication status when
/// a scrape asks, so nothing is counted twice and the hot paths pay nothing for metrics.
/// Names carry their unit; the Prometheus exporter turns dots into underscores and suffixes counters with _total.
/// </summary>
public sealed class PgrelayMeter
{
    public const string MeterName = "Pgrelay";

    public PgrelayMeter(IMeterFactory meters, ReplicatedStore store, ReplicationStatus status)
    {
        Meter = meters.Create(MeterName);
        var m = Meter;

        m.CreateObservableGauge("pgrelay.table.rows", () => PerTable(store, t => t.RowCount), description: "Rows held per replicated table.");
        m.CreateObservableGauge("pgrelay.table.bytes", () => PerTable(store, t => t.MemoryBytes), description: "Bytes held per replicated table.");
        m.CreateObservableGauge("pgrelay.ready", () => store.IsReady ? 1 : 0, description: "1 once the initial snapshot is loaded.");
        m.CreateObservableGauge("pgrelay.visible.lsn", () => (long)store.VisibleLsn.Value, description: "WAL position readers see, as a number.");

        m.CreateObservableCounter("pgrelay.changes.applied", () => status.ChangesApplied, description: "Row changes applied from the replication stream.");
        m.CreateObservableCounter("pgrelay.transactions.applied", () => status.TransactionsApplied, description: "Transactions applied from the replication stream.");
        m.CreateObservableCounter("pgrelay.replication.reconnects", () => status.Reconnects, description: "Reconnections to the source database.");
        m.CreateObservableGauge("pgrelay.replication.lag.bytes", () => (long)Math.Min(status.LagBytes, long.MaxValue), description: "WAL bytes the server has that are not applied yet.");
        m.CreateObservableGauge("pgrelay.replication.lag.seconds", () => status.LagSeconds(DateTimeOffset.UtcNow), description: "Age of the last applied commit while behind; 0 when caught up.");
        m.CreateObservableGauge("pgrelay.replication.phase", () => Phases(status.Phase), description: "1 for the current replication phase, 0 for the others.");

        m.CreateObservableGauge("pgrelay.slot.retained.wal.bytes", () => Retained(status),
            description: "WAL the replication slot makes the server keep (pg_current_wal_lsn() - restart_lsn), as last read.");
        m.CreateObservableGauge("pgrelay.slot.safe.wal.size.bytes", () => SafeWalSize(status),
            description: "WAL that can still be written before the slot may be invalidated (none when max_slot_wal_keep_size is unlimited).");
        m.CreateObservableGauge("pgrelay.slot.wal.status", () => WalStatus(status),
            description: "1 for the slot's wal_status (reserved, extended, unreserved, lost) as last read.");
        m.CreateObservableGauge("pgrelay.slot.retention.warning", () => status.RetentionWarning ? 1 : 0,
            description: "1 while the slot holds more WAL than slot-retention-warning.");
        m.CreateObservableGauge("pgrelay.slot.retention.warning.threshold.bytes", () => status.RetentionWarningBytes,
            description: "The slot-retention-warning threshold; 0 when off.");
        m.CreateObservableGauge("pgrelay.snapshot.rows.copied", () => status.SnapshotRowsCopied, description: "Rows copied by the initial snapshot.");
        m.CreateObservableGauge("pgrelay.snapshot.rows.estimated", () => status.SnapshotRowsEstimated, description: "Estimated rows in the published tables (pg_class.reltuples).");
        m.CreateObservableGauge("pgrelay.snapshot.tables.done", () => status.SnapshotTablesDone, description: "Tables whose snapshot copy is complete.");
        m.CreateObservableGauge("pgrelay.snapshot.tables.total", () => status.SnapshotTablesTotal, description: "Tables the snapshot copies.");
    }

    public Meter Meter { get; }

    private static IEnumerable<Measurement<long>> PerTable(ReplicatedStore store, Func<Pgrelay.Store.Tables.StoredTable, long> value)
    {
        foreach (var publication in store.Publications)
            foreach (var table in publication.Tables)
                yield return new Measurement<long>(value(table),
                    new KeyValuePair<string, object?>("publication", publication.Name),
                    new KeyValuePair<string, object?>("table", table.KeyName));
    }

    // No sample until there is a reading (or when the server does not say): an absent series, not a made-up 0.
    private static IEnumerable<Measurement<long>> Retained(ReplicationStatus status)
    {
        if (status.Retention?.RetainedBytes is { } bytes) yield return new Measurement<long>(bytes);
    }

    private static IEnumerable<Measurement<long>> SafeWalSize(ReplicationStatus status)
    {
        if (status.Retention?.SafeWalSizeBytes is { } bytes) yield return new Measurement<long>(bytes);
    }

    private static readonly string[] WalStatuses = ["reserved", "extended", "unreserved", "lost"];

    private static IEnumerable<Measurement<int>> WalStatus(ReplicationStatus status)
    {
        if (status.Retention is not { Exists: true, WalStatus: { } current }) yield break;
        foreach (var walStatus in WalStatuses)
            yield return new Measurement<int>(walStatus == current ? 1 : 0, new KeyValuePair<string, object?>("status", walStatus));
    }

    private static IEnumerable<Measurement<int>> Phases(ReplicationPhase current)
    {
        foreach (var phase in Enum.GetValues<ReplicationPhase>())
            yield return new Measurement<int>(phase == current ? 1 : 0,
                new KeyValuePair<string, object?>("phase", phase.ToString().ToLowerInvariant()));
    }
}
