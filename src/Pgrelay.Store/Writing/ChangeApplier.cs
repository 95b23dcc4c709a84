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
/// <para>
/// Keys are the primary key whatever the replica identity: the old row of an UPDATE or DELETE (the identity's columns)
/// only says which row changed (<see cref="Locate"/>). A table without primary key is keyed by all its columns and its
/// identical rows are copies counted in one version: an insert adds a copy, a delete takes one away.
/// </para>
/// Called under the store's write lock only.
/// </summary>
internal sealed class ChangeApplier(StoreCatalog catalog, RowKeys keys, VersionMaintenance maintenance)
{
    private readonly RowBuilder _builder = new();

    /// <summary>
    /// Live rows another row of the same transaction took the key of. Only a deferrable unique key lets two rows share
    /// a key inside a transaction (<c>UPDATE t SET id = 3 - id</c> swapping two keys): the first change moves row A onto
    /// B's key, and the next one names B by that key. Under REPLICA IDENTITY FULL the old row tells which of the two it
    /// is; a change that names a displaced row takes it from here and leaves the key's present row alone. Empty
    /// outside such transactions, so the usual path costs one count check.
    /// </summary>
    private readonly Dictionary<(StoredTable Table, string Key), List<byte[]>> _displaced = [];

    /// <summary>
    /// The replay's counterpart of <see cref="_displaced"/>: the row each key of a FULL table with primary key holds since
    /// a change of the replayed transaction put it there (complete: unchanged TOAST values merged from the FULL old row).
    /// A replay does not touch the tables, so this is all it knows: a later change whose old row differs from the row
    /// put at its key names the row that was displaced there (see <see cref="TryDescribe"/>).
    /// </summary>
    private readonly Dictionary<(StoredTable Table, string Key), byte[]> _replayPlaced = [];

    /// <summary>Ends the transaction being applied (or replayed): no row shares a key once it committed.</summary>
    public void EndTransaction()
    {
        _displaced.Clear();
        _replayPlaced.Clear();
    }

    public void Apply(in RowChange change, ulong lsn, List<AppliedChange> applied)
    {
        var table = catalog.Find(change.Table.RelationId);
        if (table is null) return;
        if (change.Kind == ChangeKind.Unpublish)
        {
            // Subscribers and sinks learn it as a truncate: every row of the table is gone from what pgrelay serves.
            var held = catalog.Publications.Where(p => p.Tables.Contains(table)).ToArray();
            catalog.Remove(table);
            applied.Add(new(ChangeKind.Truncate, table, table.Schema, null, null, Unpublished: held));
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
        var schema = change.Table;
        switch (change.Kind)
        {
            case ChangeKind.Insert when !schema.HasPrimaryKey:
            {
                var (installed, copy) = AddCopies(table, schema, change.NewRow!, 1, lsn);
                applied.Add(new(ChangeKind.Insert, table, schema, null, installed, AfterCopy: copy));
                break;
            }
            case ChangeKind.Insert:
            {
                var previous = InstallDisplacing(table, schema, change.NewRow!, lsn);
                applied.Add(new(ChangeKind.Insert, table, schema, previous, change.NewRow));
                break;
            }
            case ChangeKind.Update:
                ApplyUpdate(table, change, lsn, applied);
                break;
            case ChangeKind.Delete:
            {
                if (TakeDisplaced(table, schema, change.OldRow) is not null) break;   // its key already holds another row
                var previous = Locate(table, schema, change.OldRow, null);
                if (previous is null) break;   // unknown row (filtered, or never there): nothing to delete
                int copy = RemoveCopy(table, schema, previous, lsn);
                applied.Add(new(ChangeKind.Delete, table, schema, previous, null, BeforeCopy: copy));
                break;
            }
            case ChangeKind.Truncate:
                foreach (var row in table.NewestLiveRows()) Install(table, table.SchemaOf(row), Tombstone(row), lsn);
                table.Identities?.Clear();
                applied.Add(new(ChangeKind.Truncate, table, table.Schema, null, null));
                break;
            case ChangeKind.Relation:
            {
                var from = table.Schema;
                table.AddSchema(lsn, schema);
                if (!from.IdentityColumns.SequenceEqual(schema.IdentityColumns)) RebuildIdentities(table, schema);
                applied.Add(new(ChangeKind.Relation, table, schema, null, null));
                break;
            }
        }
    }

    /// <summary>What a change replayed to durable consumers says, without touching the tables (they hold it already).
    /// False for a table the store does not hold.</summary>
    public bool TryDescribe(in RowChange change, out AppliedChange described)
    {
        described = default;
        var table = catalog.Find(change.Table.RelationId);
        if (table is null) return false;
        if (change.Table is { HasPrimaryKey: true, ReplicaIdentity: ReplicaIdentity.Full } && change.Kind is ChangeKind.Insert or ChangeKind.Update
            or ChangeKind.Delete)
            return DescribeKeyed(table, change, out described);
        described = change.Kind switch
        {
            ChangeKind.Insert => new(ChangeKind.Insert, table, change.Table, null, change.NewRow),
            // A FULL old row is complete: a table without primary key is keyed by every column, so its new row gets
            // the unchanged TOAST values from it (ReplayCopies counts copies by that key).
            ChangeKind.Update when !change.Table.HasPrimaryKey && change.Table.ReplicaIdentity == ReplicaIdentity.Full =>
                new(ChangeKind.Update, table, change.Table, change.OldRow, MergeUnchanged(change.NewRow!, change.OldRow)),
            ChangeKind.Update => new(ChangeKind.Update, table, change.Table, change.OldRow, change.NewRow),
            ChangeKind.Delete => new(ChangeKind.Delete, table, change.Table, change.OldRow, null),
            ChangeKind.Unpublish => new(ChangeKind.Truncate, table, change.Table, null, null),
            _ => new(change.Kind, table, change.Table, null, null),
        };
        return change.Kind != ChangeKind.Load;
    }

    /// <summary>
    /// A replayed change of a FULL table with primary key, told as the live path tells it (<see cref="ApplyUpdate"/>):
    /// a change whose old row is not the row this transaction put at its key names the row displaced there (a deferrable
    /// key swapped, say), so it must not remove the key's present row: its move is an insert at the new key, its delete
    /// or a change that keeps it at the shared key is nothing. False for a change that is nothing.
    /// <para>Rows equal in every column are the one case told apart by neither image: the old row is taken as the present
    /// row (docs/sinks.md, Partial images).</para>
    /// </summary>
    private bool DescribeKeyed(StoredTable table, in RowChange change, out AppliedChange described)
    {
        var schema = change.Table;
        described = default;
        byte[]? old = change.OldRow;
        bool displaced = false;
        (StoredTable, string) oldSlot = default;
        if (old is not null)
        {
            oldSlot = (table, Convert.ToHexString(keys.Of(old, schema)));
            displaced = _replayPlaced.TryGetValue(oldSlot, out var placed) && !SameValues(placed, old);
        }
        switch (change.Kind)
        {
            case ChangeKind.Insert:
                _replayPlaced[(table, Convert.ToHexString(keys.Of(change.NewRow!, schema)))] = change.NewRow!;
                described = new(ChangeKind.Insert, table, schema, null, change.NewRow);
                return true;
            case ChangeKind.Delete:
                if (displaced) return false;
                if (old is not null) _replayPlaced.Remove(oldSlot);
                described = new(ChangeKind.Delete, table, schema, old, null);
                return true;
        }
        var complete = old is null ? change.NewRow! : MergeUnchanged(change.NewRow!, old);
        var newSlot = (table, Convert.ToHexString(keys.Of(complete, schema)));
        if (displaced)
        {
            if (newSlot == oldSlot) return false;   // still sharing the key with the present row
            _replayPlaced[newSlot] = complete;
            described = new(ChangeKind.Insert, table, schema, null, complete);
            return true;
        }
        if (old is not null) _replayPlaced.Remove(oldSlot);
        _replayPlaced[newSlot] = complete;
        described = new(ChangeKind.Update, table, schema, old, change.NewRow);
        return true;
    }

    /// <summary>
    /// The newest live version of the row an UPDATE or DELETE names, or null. The old row names it by its key when it
    /// carries the key's columns (primary-key identity, FULL, or an identity index that covers the key); else by its
    /// identity columns, through the table's <see cref="IdentityIndex"/>. An UPDATE without old row left the identity
    /// alone, so the new row's identity (or key) names the row.
    /// </summary>
    private byte[]? Locate(StoredTable table, TableSchema schema, byte[]? oldRow, byte[]? newRow)
    {
        if (oldRow is not null && schema.OldRowCarriesKey)
        {
            var key = keys.Of(oldRow, schema, out int hash);
            return Live(table.Newest(key, hash));
        }
        if (table.Identities is { } identities && (oldRow ?? newRow) is { } identityRow)
            return identities.KeyOf(identityRow) is { } rowKey ? Live(table.Newest(rowKey, keys.Hash(rowKey))) : null;
        if ((newRow ?? oldRow) is not { } keyRow) return null;
        var newKey = keys.Of(keyRow, schema, out int newHash);
        return Live(table.Newest(newKey, newHash));
    }

    private void ApplyUpdate(StoredTable table, in RowChange change, ulong lsn, List<AppliedChange> applied)
    {
        var schema = change.Table;
        if (schema.HasPrimaryKey && TakeDisplaced(table, schema, change.OldRow) is { } displaced)
        {
            // The row's old key already holds the row that displaced it: only its new key changes.
            var moved = MergeUnchanged(change.NewRow!, displaced);
            if (CacheKey.Matches(new RowView(displaced), schema, keys.Of(moved, schema)))
            {
                // Still sharing its key: it stays displaced, changed; readers see nothing of it yet.
                _displaced[(table, Convert.ToHexString(keys.Of(moved, schema)))].Add(moved);
                return;
            }
            var replaced = InstallDisplacing(table, schema, moved, lsn);
            applied.Add(new(ChangeKind.Insert, table, schema, replaced, moved));
            return;
        }
        var previous = Locate(table, schema, change.OldRow, change.NewRow);
        // Unchanged TOAST values come from the version held; a FULL old row (which PostgreSQL sends flattened) has them too.
        var complete = MergeUnchanged(change.NewRow!, previous ?? (schema.ReplicaIdentity == ReplicaIdentity.Full ? change.OldRow : null));
        if (!schema.HasPrimaryKey)
        {
            int beforeCopy = previous is null ? 1 : RemoveCopy(table, schema, previous, lsn);
            var (installed, afterCopy) = AddCopies(table, schema, complete, 1, lsn);
            applied.Add(new(ChangeKind.Update, table, schema, previous, installed, beforeCopy, afterCopy));
            return;
        }
        // The key is computed from the complete row, so it never depends on a value PostgreSQL left out.
        var newKey = keys.Of(complete, schema).ToArray();   // the scratch buffer is reused below
        if (previous is not null && !CacheKey.Matches(new RowView(previous), schema, newKey))
        {
            Install(table, schema, Tombstone(previous), lsn);   // the key changed: the old key disappears
            InstallDisplacing(table, schema, complete, lsn);
        }
        else Install(table, schema, complete, lsn);
        applied.Add(new(ChangeKind.Update, table, schema, previous, complete));
    }

    /// <summary>Installs a row that moved to its key; a live row already there is displaced, not lost (see
    /// <see cref="_displaced"/>). Returns that row, or null.</summary>
    private byte[]? InstallDisplacing(StoredTable table, TableSchema schema, byte[] row, ulong lsn)
    {
        var held = Live(table.Newest(keys.Of(row, schema, out int hash), hash));
        if (held is not null)
        {
            var slot = (table, Convert.ToHexString(keys.Of(row, schema)));
            if (!_displaced.TryGetValue(slot, out var rows)) _displaced[slot] = rows = [];
            rows.Add(held);
        }
        Install(table, schema, row, lsn);
        return held;
    }

    /// <summary>
    /// The displaced row a FULL old row names, taken out of <see cref="_displaced"/>; null when none was displaced at its
    /// key, or only the row at the key has those values.
    /// </summary>
    private byte[]? TakeDisplaced(StoredTable table, TableSchema schema, byte[]? oldRow)
    {
        if (_displaced.Count == 0 || oldRow is null || schema.ReplicaIdentity != ReplicaIdentity.Full || !schema.HasPrimaryKey) return null;
        var key = keys.Of(oldRow, schema);
        if (!_displaced.TryGetValue((table, Convert.ToHexString(key)), out var rows)) return null;
        // A displaced row equal to the key's present row is taken before it: which of two identical rows moves makes no
        // difference, but moving the present one would leave the displaced one out when the transaction ends.
        int i = rows.FindIndex(r => SameValues(r, oldRow));
        if (i < 0) return null;   // the key's present row is the one named
        var row = rows[i];
        rows.RemoveAt(i);
        return row;
    }

    private static bool SameValues(byte[] a, byte[] b)
    {
        var x = new RowView(a);
        var y = new RowView(b);
        if (x.ColumnCount != y.ColumnCount) return false;
        for (int i = 0; i < x.ColumnCount; i++)
            if (x.State(i) != y.State(i) || !x.Value(i).SequenceEqual(y.Value(i))) return false;
        return true;
    }

    /// <summary>Adds <paramref name="copies"/> copies of <paramref name="row"/> to a table without primary key; returns the
    /// installed version and the number of the last copy added.</summary>
    public (byte[] Installed, int Copy) AddCopies(StoredTable table, TableSchema schema, byte[] row, int copies, ulong lsn)
    {
        var key = keys.Of(row, schema, out int hash);
        int total = table.LiveCopies(key, hash) + copies;
        var version = total > 1 || RowFormat.ReadCopies(row) != 1 ? RowFormat.WithCopies(row, total) : row;
        Install(table, schema, version, lsn);
        return (version, total);
    }

    /// <summary>How many copies of the row keyed <paramref name="key"/> the table holds now.</summary>
    public int CopiesHeld(StoredTable table, ReadOnlySpan<byte> key, int hash) => table.LiveCopies(key, hash);

    /// <summary>Takes one copy away (the highest, so the others keep their keys); returns its number.</summary>
    private int RemoveCopy(StoredTable table, TableSchema schema, byte[] previous, ulong lsn)
    {
        int copies = RowFormat.ReadCopies(previous);
        Install(table, schema, copies > 1 ? RowFormat.WithCopies(previous, copies - 1) : Tombstone(previous), lsn);
        return copies;
    }

    public void RebuildIdentities(StoredTable table, TableSchema schema)
    {
        var identities = IdentityIndex.For(schema);
        if (identities is not null)
            foreach (var row in table.NewestLiveRows()) identities.Add(row, keys.Of(row, schema));
        table.Identities = identities;
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
        var tombstone = RowFormat.WithCopies(row, 1);   // a copy that keeps the key columns, so the slot still knows its key
        tombstone[RowFormat.FlagsOffset] |= RowFormat.Tombstone;
        return tombstone;
    }

    /// <summary>Stamps and installs one version; keeps the identity index in step; queues the key for maintenance when it
    /// built a chain.</summary>
    public void Install(StoredTable table, TableSchema schema, byte[] row, ulong lsn)
    {
        var key = keys.Of(row, schema, out int hash);
        RowFormat.WriteLsn(row, lsn);
        RowFormat.WriteHash(row, hash);
        RowFormat.WriteShape(row, table.ShapeOf(schema));
        ulong previous = table.Install(key, hash, row);
        if (table.Identities is { } identities)
        {
            if (previous != 0 && table.ViewOf(previous) is { IsTombstone: false } before) identities.Remove(before);
            if (!RowFormat.IsTombstone(row)) identities.Add(row, key);
        }
        if (previous != 0) maintenance.Enqueue(table, row);
    }
}
