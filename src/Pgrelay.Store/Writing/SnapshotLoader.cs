using Pgrelay.Core.Model;
using Pgrelay.Core.Rows;
using Pgrelay.Store.Tables;

namespace Pgrelay.Store.Writing;

/// <summary>Puts rows copied inside the exported snapshot into their table. Called under the store's write lock.</summary>
internal sealed class SnapshotLoader(RowKeys keys, ChangeApplier applier)
{
    public void Load(StoredTable table, TableSchema schema, IReadOnlyList<byte[]> rows)
    {
        // A primary key or replica identity index is unique inside one MVCC snapshot, and the parallel copiers
        // read disjoint page ranges, so those rows go in without looking for their key. REPLICA IDENTITY FULL
        // tables may hold identical rows: they take the checking path.
        if (schema.ReplicaIdentity == ReplicaIdentity.Full)
        {
            foreach (var row in rows) applier.Install(table, schema, row, 0);
            return;
        }
        table.Reserve(rows.Count);
        for (int i = 0; i < rows.Count; i++)
        {
            var row = rows[i];
            keys.Of(row, schema, out int hash);
            RowFormat.WriteHash(row, hash);
            table.InstallNew(hash, row);
        }
    }
}
