using Pgrelay.Core.Rows;
using Pgrelay.Core.Changes;
using Pgrelay.Core.Model;
using Pgrelay.Store.Feed;
using Pgrelay.Store.Tables;

namespace Pgrelay.Store.Writing;

/// <summary>
/// A table loaded beside the stream into a shadow nobody reads: rows from the load's exported snapshot, then the
/// transactions committed after that snapshot (the tail). <see cref="TableSwap"/> puts it in place of the held table.
/// Every call takes the store's write lock: the copier's loader and the writer both reach it.
/// </summary>
internal sealed class ShadowLoad : ITableLoad
{
    private readonly object _write;
    private readonly SnapshotLoader _loader;
    private readonly ChangeApplier _applier;
    private readonly Action<ShadowLoad> _forget;
    private readonly List<AppliedChange> _discarded = [];   // what tail changes did to the shadow: nobody is told

    public ShadowLoad(object write, CommitVisibility visibility, KeyHasher hasher, TableSchema schema, IReadOnlyList<string> publications,
        SnapshotLoader loader, ChangeApplier applier, Action<ShadowLoad> forget)
    {
        _write = write;
        _loader = loader;
        _applier = applier;
        _forget = forget;
        Schema = schema;
        Publications = publications;
        Shadow = new StoredTable(visibility, schema, hasher);
    }

    public TableSchema Schema { get; }
    public IReadOnlyList<string> Publications { get; }
    internal StoredTable Shadow { get; }
    internal bool Abandoned { get; private set; }

    public void LoadSnapshotRows(TableSchema table, IReadOnlyList<byte[]> rows)
    {
        lock (_write)
            if (!Abandoned) _loader.Load(Shadow, table, rows);
    }

    public void LoadSnapshotRows(TableSchema table, RowBatch rows)
    {
        lock (_write)
            if (!Abandoned) _loader.Load(Shadow, table, rows);
    }

    public void ExpectSnapshotRows(TableSchema table, long estimate)
    {
        if (estimate <= 0) return;
        lock (_write) Shadow.Reserve((int)Math.Min(estimate, 8_000_000));   // the index grows only past 85 %: a reservation (80 %) leaves room for the estimate's error
    }

    public void ApplyTail(Transaction transaction)
    {
        lock (_write)
        {
            if (Abandoned) return;
            ulong lsn = Math.Max(transaction.EndLsn.Value, transaction.CommitLsn.Value + 1);
            foreach (var change in transaction.Changes)
            {
                _applier.ApplyTo(Shadow, change, lsn, _discarded);
                _discarded.Clear();
            }
            _applier.EndTransaction();
        }
    }

    public void Abandon()
    {
        lock (_write)
        {
            if (Abandoned) return;
            Abandoned = true;
            _forget(this);
        }
    }
}
