using Pgrelay.Core.Model;
using Pgrelay.Store.Snapshots;
using Pgrelay.Store.Tables;

namespace Pgrelay.Store.Checkpoints;

/// <summary>
/// What a checkpoint writes, fixed under the store's write lock: a pin at the visible LSN (K), the publications and
/// every held table with the schema in force at K, and the key hash seed the tables' hash tags were made with. <see cref="Generation"/> names the snapshot the store was built
/// from: a checkpoint whose generation is gone (a fresh snapshot, on a new slot, replaced the data) is never made valid.
/// </summary>
internal sealed record CheckpointCapture(StorePin Pin, IReadOnlyList<PublicationSchema> Publications,
    IReadOnlyList<(StoredTable Table, TableSchema Schema)> Tables, long Generation, ulong HashSeed) : IDisposable
{
    public Lsn Lsn => Pin.Lsn;
    public void Dispose() => Pin.Dispose();
}
