using Pgrelay.Core.Changes;
using Pgrelay.Core.Model;
using Pgrelay.Core.Rows;
using Pgrelay.Store.Catalog;
using Pgrelay.Store.Feed;
using Pgrelay.Store.Tables;

namespace Pgrelay.Store.Writing;

/// <summary>
/// Puts a table loaded beside the stream (<see cref="ShadowLoad"/>) in place of what the store held of it, inside the
/// transaction that carries the <see cref="ChangeKind.Load"/> change, so readers see the old table up to that transaction
/// and the loaded one from it on, and a reader pinned before it keeps the old versions.
/// <para>The held table takes the loaded rows as new versions, and only those that differ: a row whose values are the same
/// under the same schema keeps its version (and its ETag). Subscribers and sinks get each difference as an ordinary change
/// with complete images: an insert for a new key, an update (the before image expressed in the new schema, column by name)
/// for a changed row, a delete for a key the load does not have. A table the store did not hold starts out empty, so every
/// loaded row is an insert.</para>
/// <para>Identical rows of a table without primary key are copies of one version: a copy count that grows is inserts of
/// the new copies, one that shrinks deletes of the highest ones. Deleted rows keep the shape they were written under.</para>
/// Called under the store's write lock only.
/// </summary>
internal sealed class TableSwap(StoreCatalog catalog, CommitVisibility visibility, KeyHasher hasher, RowKeys keys, ChangeApplier applier)
{
    private readonly RowBuilder _builder = new();

    public void Swap(ShadowLoad load, ulong lsn, List<AppliedChange> applied)
    {
        var schema = load.Schema;
        var shadow = load.Shadow;
        var target = catalog.Find(schema.RelationId) ?? new StoredTable(visibility, schema, hasher);
        var from = target.Schema;
        // A composite type altered (its fields render otherwise) is a new shape for every row: each row is installed under
        // the new schema, and consumers get it again, rendered as now.
        bool sameRows = from.IsRowCompatibleWith(schema) && from.RendersLike(schema) && !target.AwaitingReload;
        var held = target.NewestLiveRows();
        target.AddSchema(lsn, schema);
        target.AwaitingReload = false;

        foreach (var row in shadow.NewestLiveRows())
        {
            var key = keys.Of(row, schema, out int hash);
            var old = ChangeApplier.Live(target.Newest(key, hash));
            int had = old is null ? 0 : RowFormat.ReadCopies(old), has = RowFormat.ReadCopies(row);
            bool same = old is not null && sameRows && SameValues(old, row);
            if (same && had == has) continue;
            var before = old is null || sameRows ? old : InSchema(old, target.SchemaOf(old), schema);
            applier.Install(target, schema, row, lsn);
            // Copies both versions have are updates (none when the values are the same); the rest come or go.
            if (!same)
                for (int copy = 1; copy <= Math.Min(had, has); copy++)
                    applied.Add(new(ChangeKind.Update, target, schema, before, row, copy, copy));
            for (int copy = had + 1; copy <= has; copy++) applied.Add(new(ChangeKind.Insert, target, schema, null, row, AfterCopy: copy));
            for (int copy = had; copy > has; copy--) applied.Add(new(ChangeKind.Delete, target, schema, before, null, BeforeCopy: copy));
        }
        foreach (var old in held)
        {
            var oldSchema = target.SchemaOf(old);
            var key = keys.Of(old, oldSchema, out int hash);
            if (ChangeApplier.Live(shadow.Newest(key, hash)) is not null) continue;   // kept or changed above
            applier.Install(target, oldSchema, ChangeApplier.Tombstone(old), lsn);
            for (int copy = RowFormat.ReadCopies(old); copy >= 1; copy--)
                applied.Add(new(ChangeKind.Delete, target, oldSchema, old, null, BeforeCopy: copy));
        }
        if (!from.IdentityColumns.SequenceEqual(schema.IdentityColumns) || !sameRows) applier.RebuildIdentities(target, schema);
        var holding = catalog.Publications.Where(p => p.Tables.Contains(target)).ToList();
        catalog.Hold(target, load.Publications);
        // Keys name the publication: a table that left one publication (and stays in another) has no keys there any more,
        // and one that joined another has every key there too, while its rows may not have changed at all. Consumers that
        // name keys by publication learn it from a relation change whose Unpublished names the publications it left.
        var left = holding.Where(p => !load.Publications.Contains(p.Name)).ToArray();
        if (holding.Count > 0 && (left.Length > 0 || load.Publications.Any(name => !holding.Exists(p => p.Name == name))))
            applied.Add(new(ChangeKind.Relation, target, schema, null, null, Unpublished: left));
    }

    /// <summary>The same column states and values (the copy count aside).</summary>
    private static bool SameValues(byte[] a, byte[] b)
    {
        RowView x = new(a), y = new(b);
        if (x.ColumnCount != y.ColumnCount) return false;
        for (int i = 0; i < x.ColumnCount; i++)
        {
            var state = x.State(i);
            if (state != y.State(i)) return false;
            if (state == ColumnState.Value && !x.Value(i).SequenceEqual(y.Value(i))) return false;
        }
        return true;
    }

    /// <summary>A row rewritten for another schema, column by name (NULL where the old schema had no such column): how a
    /// before image reads to consumers that follow the new schema.</summary>
    private byte[] InSchema(byte[] row, TableSchema from, TableSchema to)
    {
        var view = new RowView(row);
        foreach (var column in to.Columns)
        {
            int source = from.ColumnIndex(column.Name);
            if (source >= 0 && source < view.ColumnCount) _builder.AddFrom(view, source);
            else _builder.AddNull();
        }
        return _builder.Build();
    }
}
