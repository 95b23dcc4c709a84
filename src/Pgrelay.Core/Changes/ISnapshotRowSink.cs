using Pgrelay.Core.Model;
using Pgrelay.Core.Rows;

namespace Pgrelay.Core.Changes;

/// <summary>Where a snapshot copy puts the rows it reads: the target's initial snapshot, or one table's load beside the stream.</summary>
public interface ISnapshotRowSink
{
    /// <summary>Rows copied inside an exported snapshot. Called concurrently by parallel copiers; rows of a batch belong to one table.</summary>
    void LoadSnapshotRows(TableSchema table, IReadOnlyList<byte[]> rows);

    /// <summary>
    /// The same in bulk, without an array per row: the rows encoded back to back (<see cref="RowBatch"/>). The sink copies
    /// what it keeps before it returns, so the caller reuses the batch. Sinks that keep arrays get them one by one.
    /// </summary>
    void LoadSnapshotRows(TableSchema table, RowBatch rows) => LoadSnapshotRows(table, rows.ToArrays());

    /// <summary>A hint before a table's copy starts: about how many rows it holds (may be wrong, or 0 when unknown).</summary>
    void ExpectSnapshotRows(TableSchema table, long estimate) { }
}
