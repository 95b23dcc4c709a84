using Pgrelay.Core.Changes;
using Pgrelay.Core.Model;
using Pgrelay.Store;

namespace Pgrelay.Bench;

/// <summary>
/// The real store behind a gate: while closed, Apply waits, so a backlog builds up in the slot and the
/// release measures how fast replication drains it, like pg_recvlogical reading the same backlog.
/// </summary>
internal sealed class GatedTarget(ReplicatedStore store) : IReplicationTarget
{
    private readonly ManualResetEventSlim _open = new(true);

    public void Close() => _open.Reset();
    public void Open() => _open.Set();

    public void BeginSnapshot(IReadOnlyList<PublicationSchema> publications, Lsn? replayFrom) => store.BeginSnapshot(publications, replayFrom);
    public void LoadSnapshotRows(TableSchema table, IReadOnlyList<byte[]> rows) => store.LoadSnapshotRows(table, rows);
    public void CompleteSnapshot(Lsn consistentPoint) => store.CompleteSnapshot(consistentPoint);

    public ITableLoad BeginTableLoad(TableSchema schema, IReadOnlyList<string> publications) => store.BeginTableLoad(schema, publications);

    public TransactionRoute Route(Lsn commitLsn) => store.Route(commitLsn);

    public void Apply(Transaction transaction)
    {
        _open.Wait();
        store.Apply(transaction);
    }

    public Lsn AppliedLsn => store.AppliedLsn;
    public Lsn SafeToConfirmLsn => store.SafeToConfirmLsn;
}
