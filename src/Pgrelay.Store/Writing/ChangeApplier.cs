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
/// one. Unchanged TOAST columns are filled from the previous version.
/// <para>A relation change that keeps the rows valid (<see cref="TableSchema.IsRowCompatibleWith"/>) gives the table its new
/// schema. Any other (columns added, dropped, renamed, retyped) cannot be applied to the held rows without guessing what
/// PostgreSQL now holds in them, so the table is frozen as it was until a load beside the stream replaces it
/// (<see cref="TableSwap"/>). Changes of tables the store does not hold, or holds frozen, are ignored: the load that
/// replaces them carries them.</para>
/// Called under the store's write lock only.
/// </summary>
internal sealed class ChangeApplier(StoreCatalog catalog, RowKeys keys, VersionMaintenance maintenance)
{
    private readonly RowBuilder _builder = new();

    public void Apply(in RowChange change, ulong lsn, List<AppliedChange> applied)
    {
        var table = catalog.Find(change.Table.RelationId);
        if (table is null) return;
        if (change.Kind == ChangeKind.Unpublish)
        {
            // Subscribers and sinks learn it as a truncate: every row of the table is gone from what pgrelay serves.
            catalog.Remove(table);
            applied.Add(new(ChangeKind.Truncate, table, table.Schema, null, null));
            return;
        }
        if (table.AwaitingReload) return;
        if (change.Kind == ChangeKind.Relation && !table.Schema.IsRowCompatibleWith(change.Table))
        {
            // No feed entry: what changed for readers is known only once the load replaces the table.
            table.AwaitingReload = true;
            return;
        }
        ApplyTo(table, change, lsn, applied);
    }

    /// <summary>Applies a row change (or a row-compatible relation change) to <paramref name="table"/>, held or not.</summary>
    public void ApplyTo(StoredTable table, in RowChange change, ulong lsn, List<AppliedChange> applied)
    {
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
                table.AddSchema(lsn, change.Table);
                applied.Add(new(ChangeKind.Relation, table, change.Table, null, null));
                break;
        }
    }

    /// <summary>What a change replayed to durable consumers says, without touching the tables (they hold it already).
    /// False for a table the store does not hold.</summary>
    public bool TryDescribe(in RowChange change, out AppliedChange described)
    {
        described = default;
        var table = catalog.Find(change.Table.RelationId);
        if (table is null) return false;
        described = change.Kind switch
        {
            ChangeKind.Insert => new(ChangeKind.Insert, table, change.Table, null, change.NewRow),
            ChangeKind.Update => new(ChangeKind.Update, table, change.Table, change.OldRow, change.NewRow),
            ChangeKind.Delete => new(ChangeKind.Delete, table, change.Table, change.OldRow, null),
            ChangeKind.Unpublish => new(ChangeKind.Truncate, table, change.Table, null, null),
            _ => new(change.Kind, table, change.Table, null, null),
        };
        return change.Kind != ChangeKind.Load;
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

    /// <summary>
    /// Fills columns PostgreSQL left out of an UPDATE (unchanged TOAST values) from the previous version. Position for
    /// position: every version of a table the store applies changes to has the same columns (a relation change that
    /// moves columns freezes the table instead).
    /// </summary>
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

    public static byte[]? Live(byte[]? row) => row is null || RowFormat.IsTombstone(row) ? null : row;

    public static byte[] Tombstone(byte[] row)
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
