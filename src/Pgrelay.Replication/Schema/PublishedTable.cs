using Pgrelay.Core.Model;

namespace Pgrelay.Replication.Schema;

/// <summary>A replicated table with what the snapshot copy needs besides its schema.</summary>
/// <param name="RowFilter">The publication's WHERE expression (PG15+), applied to the snapshot copy too; null for all rows.</param>
/// <param name="RelPages">pg_class.relpages: how the copy splits the table into ctid ranges (may be stale).</param>
/// <param name="RelTuples">pg_class.reltuples: an estimate for progress reporting (-1 when never analysed).</param>
/// <param name="IsPartitioned">A partitioned root (publish_via_partition_root): no storage of its own, copied through its partitions.</param>
public sealed record PublishedTable(TableSchema Schema, string? RowFilter, long RelPages, long RelTuples, bool IsPartitioned = false);
