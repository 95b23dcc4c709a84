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
            table.InstallNew(hash, row.AsSpan(RowFormat.BodyOffset), RowFormat.ReadLsn(row));
            identities?.Add(row, key);
        }
    }

    /// <summary>Rows from a copier's batch: each body goes from the batch straight into a page.</summary>
    public void Load(StoredTable table, TableSchema schema, RowBatch rows)
    {
        table.Reserve(rows.Count);
        if (!schema.HasPrimaryKey)
        {
            LoadCopies(table, schema, rows.ToArrays());   // a copy count may have to be added to the row: arrays, rare
            return;
        }
        var identities = table.Identities;
        foreach (var row in rows)
        {
            var key = keys.Of(row, schema, out int hash);
            table.InstallNew(hash, row.Body, 0);
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
            if (table.LiveCopies(key, hash) is var loaded and > 0) version = RowFormat.WithCopies(row, loaded + 1);
            table.ReplaceLoaded(key, hash, version);
            identities?.Add(version, key);
        }
    }
}
