using Pgrelay.Core.Model;
using Pgrelay.Core.Rows;
using Pgrelay.Store.Tables;

namespace Pgrelay.Store.Writing;

/// <summary>Puts rows copied inside the exported snapshot into their table. Called under the store's write lock.</summary>
internal sealed class SnapshotLoader(RowKeys keys)
{
    public void Load(StoredTable table, TableSchema schema, IReadOnlyList<byte[]> rows)
    {
        // A primary key is unique inside one MVCC snapshot, and the parallel copiers read disjoint page ranges, so those
        // rows go in without looking for their key.
        table.Reserve(rows.Count);
        if (!schema.HasPrimaryKey)
        {
            LoadCopies(table, schema, rows);
            return;
        }
        var identities = table.Identities;
        for (int i = 0; i < rows.Count; i++)
        {
            var row = rows[i];
            var key = keys.Of(row, schema, out int hash);
            RowFormat.WriteHash(row, hash);
            table.InstallNew(hash, row);
            identities?.Add(row, key);
        }
    }

    /// <summary>A table without primary key may hold identical rows: each one more is one more copy of the same version.</summary>
    private void LoadCopies(StoredTable table, TableSchema schema, IReadOnlyList<byte[]> rows)
    {
        var identities = table.Identities;
        foreach (var row in rows)
        {
            var key = keys.Of(row, schema, out int hash);
            var version = row;
            if (table.Newest(key, hash) is { } loaded) version = RowFormat.WithCopies(row, RowFormat.ReadCopies(loaded) + 1);
            RowFormat.WriteHash(version, hash);
            table.ReplaceLoaded(key, hash, version);
            identities?.Add(version, key);
        }
    }
}
