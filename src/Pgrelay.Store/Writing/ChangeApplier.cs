using Pgrelay.Core.Changes;
using Pgrelay.Core.Keys;
using Pgrelay.Core.Model;
using Pgrelay.Core.Rows;
using Pgrelay.Store.Catalog;
using Pgrelay.Store.Feed;
using Pgrelay.Store.Tables;

namespace Pgrelay.Store.Writing;

/// <summary>
/// Turns the changes of one transaction into row versions stamped with its end LSN (invisible until the store moves
/// its visible LSN), and says what each change did for the feed: the previous version it replaced, the complete new
/// one. Unchanged TOAST columns are filled from the previous version; ALTER TABLE rewrites the table's rows.
/// Called under the store's write lock only.
/// </summary>
internal sealed class ChangeApplier(StoreCatalog catalog, RowKeys keys, VersionMaintenance maintenance)
{
    private readonly RowBuilder _builder = new();

    public void Apply(in RowChange change, ulong lsn, List<AppliedChange> applied)
    {
        var table = catalog.TableFor(change.Table);
        switch (change.Kind)
        {
            case ChangeKind.Insert:
            {
                var previous = Install(table, change.Table, change.NewRow!, lsn);
                applied.Add(new(ChangeKind.Insert, table, change.Table, Live(previous), change.NewRow));
                break;
            }
            case ChangeKind.Update:
                ApplyUpdate(table, change, lsn, applied);
                break;
            case ChangeKind.Delete:
            {
                var schema = change.Table;
                var key = keys.Of(change.OldRow!, schema, out int hash);
                var previous = Live(table.Newest(key, hash));
                if (previous is null) break;   // unknown row (filtered, or never there): nothing to delete
                Install(table, schema, Tombstone(previous), lsn);
                applied.Add(new(ChangeKind.Delete, table, schema, previous, null));
                break;
            }
            case ChangeKind.Truncate:
                foreach (var row in table.NewestLiveRows()) Install(table, table.SchemaFor(RowFormat.ReadLsn(row)), Tombstone(row), lsn);
                applied.Add(new(ChangeKind.Truncate, table, table.Schema, null, null));
                break;
            case ChangeKind.Relation:
                var previousSchema = table.Schema;
                ApplyRelation(table, change, lsn);
                applied.Add(new(ChangeKind.Relation, table, change.Table, null, null, previousSchema, change.NewRow));
                break;
        }
    }

    /// <summary>What a change replayed to durable consumers says, without touching the tables (they hold it already).</summary>
    public AppliedChange Describe(in RowChange change)
    {
        var table = catalog.TableFor(change.Table);
        return change.Kind switch
        {
            ChangeKind.Insert => new(ChangeKind.Insert, table, change.Table, null, change.NewRow),
            ChangeKind.Update => new(ChangeKind.Update, table, change.Table, change.OldRow, change.NewRow),
            ChangeKind.Delete => new(ChangeKind.Delete, table, change.Table, change.OldRow, null),
            _ => new(change.Kind, table, change.Table, null, null, MissingValues: change.NewRow),
        };
    }

    private void ApplyUpdate(StoredTable table, in RowChange change, ulong lsn, List<AppliedChange> applied)
    {
        var schema = change.Table;
        var newRow = change.NewRow!;
        byte[]? previous;
        var newKey = keys.Of(newRow, schema).ToArray();   // the scratch buffer is reused for the old key
        if (change.OldRow is { } oldRow && !CacheKey.Matches(new RowView(oldRow), schema, newKey))
        {
            // The key changed: the old key disappears, the new key appears.
            var oldKey = keys.Of(oldRow, schema, out int oldHash);
            previous = Live(table.Newest(oldKey, oldHash));
            if (previous is not null) Install(table, schema, Tombstone(previous), lsn);
        }
        else
        {
            previous = Live(table.Newest(newKey, RowTable.Hash(newKey)));
        }
        var complete = MergeUnchanged(newRow, previous);
        Install(table, schema, complete, lsn);
        applied.Add(new(ChangeKind.Update, table, schema, previous, complete));
    }

    private void ApplyRelation(StoredTable table, in RowChange change, ulong lsn)
    {
        var from = table.Schema;
        var to = change.Table;
        var remapper = new SchemaRemapper(from, to, change.NewRow);
        if (remapper.IsIdentity(from, to) && from.Columns.Select(c => c.Name).SequenceEqual(to.Columns.Select(c => c.Name)) &&
            from.KeyColumns.SequenceEqual(to.KeyColumns))
        {
            table.AddSchema(lsn, to);
            return;
        }
        var rows = table.NewestLiveRows();
        var rewritten = new List<byte[]>(rows.Count);
        foreach (var row in rows) rewritten.Add(remapper.Rewrite(row, _builder));
        // Old keys go (under the old schema), then rows come back under the new one: keys may have changed.
        foreach (var row in rows) Install(table, table.SchemaFor(RowFormat.ReadLsn(row)), Tombstone(row), lsn);
        table.AddSchema(lsn, to);
        foreach (var row in rewritten) Install(table, to, row, lsn);
    }

    /// <summary>Fills columns PostgreSQL left out of an UPDATE (unchanged TOAST values) from the previous version.</summary>
    private byte[] MergeUnchanged(byte[] newRow, byte[]? previous)
    {
        var view = new RowView(newRow);
        int n = view.ColumnCount;
        bool any = false;
        for (int i = 0; i < n && !any; i++) any = view.State(i) == ColumnState.Unchanged;
        if (!any || previous is null) return newRow;
        var old = new RowView(previous);
        for (int i = 0; i < n; i++)
        {
            if (view.State(i) == ColumnState.Unchanged && i < old.ColumnCount) _builder.AddFrom(old, i);
            else _builder.AddFrom(view, i);
        }
        return _builder.Build();
    }

    private static byte[]? Live(byte[]? row) => row is null || RowFormat.IsTombstone(row) ? null : row;

    private static byte[] Tombstone(byte[] row)
    {
        var tombstone = (byte[])row.Clone();   // keeps the key columns, so the slot still knows its key
        tombstone[RowFormat.FlagsOffset] |= RowFormat.Tombstone;
        return tombstone;
    }

    /// <summary>Stamps and installs one version; queues the key for maintenance when it built a chain.</summary>
    public byte[]? Install(StoredTable table, TableSchema schema, byte[] row, ulong lsn)
    {
        var key = keys.Of(row, schema, out int hash);
        RowFormat.WriteLsn(row, lsn);
        RowFormat.WriteHash(row, hash);
        var previous = table.Install(key, hash, row);
        if (previous is not null) maintenance.Enqueue(table, row);
        return previous;
    }
}
