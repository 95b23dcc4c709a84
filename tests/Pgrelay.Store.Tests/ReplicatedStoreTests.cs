using System.Text;
using Pgrelay.Core.Changes;
using Pgrelay.Core.Model;
using Pgrelay.Store.Feed;
using static Pgrelay.Store.Tests.StoreBuilder;

namespace Pgrelay.Store.Tests;

public class ReplicatedStoreTests
{
    [Fact]
    public void Snapshot_rows_are_readable_by_composite_key()
    {
        var store = NewStore(Row("Tulsa", "OK", "413066"), Row("Portland", "OR", "652503"));
        Assert.True(store.IsReady);
        Assert.Equal("413066", Get(store, "pub.cities.Tulsa/OK", 2));
        Assert.Null(Get(store, "pub.cities.Tulsa/OR", 2));
        Assert.Null(Get(store, "pub.towns.Tulsa/OK", 2));
        Assert.Null(Get(store, "other.cities.Tulsa/OK", 2));
        Assert.Equal(2, store.TotalRows);
    }

    [Fact]
    public void Insert_update_delete_apply_in_order()
    {
        var store = NewStore(Row("Tulsa", "OK", "1"));
        store.Apply(Txn(new RowChange(ChangeKind.Insert, Cities, Row("Salem", "OR", "2"))));
        store.Apply(Txn(new RowChange(ChangeKind.Update, Cities, Row("Tulsa", "OK", "3"))));
        store.Apply(Txn(new RowChange(ChangeKind.Delete, Cities, OldRow: Row("Salem", "OR", null))));
        Assert.Equal("3", Get(store, "pub.cities.Tulsa/OK", 2));
        Assert.Null(Get(store, "pub.cities.Salem/OR", 2));
        Assert.Equal(1, store.TotalRows);
    }

    [Fact]
    public void Update_with_unchanged_toast_keeps_the_cached_value()
    {
        var store = NewStore(Row("Tulsa", "OK", "big value"));
        store.Apply(Txn(new RowChange(ChangeKind.Update, Cities, Row("Tulsa", "OK", Unchanged))));
        Assert.Equal("big value", Get(store, "pub.cities.Tulsa/OK", 2));
    }

    [Fact]
    public void Update_that_changes_the_key_moves_the_row()
    {
        var store = NewStore(Row("Tulsa", "OK", "1"));
        store.Apply(Txn(new RowChange(ChangeKind.Update, Cities, Row("Tulsa", "AR", "1"), Row("Tulsa", "OK", null))));
        Assert.Null(Get(store, "pub.cities.Tulsa/OK", 2));
        Assert.Equal("1", Get(store, "pub.cities.Tulsa/AR", 2));
    }

    [Fact]
    public void Truncate_removes_every_row()
    {
        var store = NewStore(Row("Tulsa", "OK", "1"), Row("Salem", "OR", "2"));
        store.Apply(Txn(new RowChange(ChangeKind.Truncate, Cities)));
        Assert.Equal(0, store.TotalRows);
        Assert.Null(Get(store, "pub.cities.Tulsa/OK", 2));
        store.Apply(Txn(new RowChange(ChangeKind.Insert, Cities, Row("Tulsa", "OK", "5"))));
        Assert.Equal("5", Get(store, "pub.cities.Tulsa/OK", 2));
    }

    private static readonly TableSchema Reshaped = new(100, "public", "cities",
    [
        new ColumnSchema("name", PgTypes.Text, -1, true),
        new ColumnSchema("state", PgTypes.Text, -1, true),
        new ColumnSchema("mayor", PgTypes.Text, -1, false),
    ], ReplicaIdentity.Default);

    [Fact]
    public void A_relation_change_that_keeps_the_rows_keeps_serving_and_applying()
    {
        var store = NewStore(Row("Tulsa", "OK", "1"));
        var full = new TableSchema(100, "public", "cities", Cities.Columns, ReplicaIdentity.Full, ["name", "state"]);
        store.Apply(Txn(new RowChange(ChangeKind.Relation, full)));
        store.Apply(Txn(new RowChange(ChangeKind.Update, full, Row("Tulsa", "OK", "2"))));
        Assert.Equal("2", Get(store, "pub.cities.Tulsa/OK", 2));
        Assert.Equal(ReplicaIdentity.Full, store.FindPublication("pub")!.FindTable("cities")!.Schema.ReplicaIdentity);
    }

    /// <summary>
    /// A relation message names columns but no attribute numbers: population dropped and mayor added looks like a rename.
    /// The store does not guess: it keeps serving the rows as they were and ignores the table's changes until a copy loaded
    /// beside the stream replaces it, inside one transaction.
    /// </summary>
    [Fact]
    public void A_relation_change_that_moves_columns_freezes_the_table_until_its_load_replaces_it()
    {
        var store = NewStore(Row("Tulsa", "OK", "1"), Row("Salem", "OR", "2"), Row("Boise", "ID", "3"));
        store.Apply(Txn(new RowChange(ChangeKind.Relation, Reshaped)));
        store.Apply(Txn(new RowChange(ChangeKind.Update, Reshaped, Row("Tulsa", "OK", "Mayor T"))));
        Assert.Equal("1", Get(store, "pub.cities.Tulsa/OK", 2));
        Assert.Equal("population", store.FindPublication("pub")!.FindTable("cities")!.Schema.Columns[2].Name);

        using var before = store.Pin();
        var load = store.BeginTableLoad(Reshaped, ["pub"]);
        load.LoadSnapshotRows(Reshaped, [Row("Tulsa", "OK", "Mayor T"), Row("Salem", "OR", null)]);
        load.ApplyTail(Txn(new RowChange(ChangeKind.Insert, Reshaped, Row("Nampa", "ID", "Mayor N"))));
        Assert.Null(Get(store, "pub.cities.Nampa/ID", 2));   // nothing of the load shows before it is swapped in

        var swap = Txn(new RowChange(ChangeKind.Load, Reshaped));
        store.Apply(swap);
        Assert.Equal("Mayor T", Get(store, "pub.cities.Tulsa/OK", 2));
        Assert.Equal("NULL", Get(store, "pub.cities.Salem/OR", 2));
        Assert.Equal("Mayor N", Get(store, "pub.cities.Nampa/ID", 2));
        Assert.Null(Get(store, "pub.cities.Boise/ID", 2));
        Assert.Equal(3, store.TotalRows);
        Assert.Equal("mayor", store.FindPublication("pub")!.FindTable("cities")!.Schema.Columns[2].Name);

        // A reader pinned before the swap keeps the old table, each version under its own schema.
        Assert.True(store.TryGetRow(Encoding.UTF8.GetBytes("pub.cities.Boise/ID"), before, out var boise));
        Assert.Equal("population", boise.Schema.Columns[2].Name);

        // Subscribers get the differences as ordinary changes of the swap's transaction.
        Assert.Equal(FeedRead.Transaction, store.Feed.TryRead(new Lsn(swap.CommitLsn.Value - 1), out var fed));
        Assert.Equal(swap.CommitLsn, fed!.CommitLsn);
        var kinds = fed.Changes.Select(c => (c.Kind, Encoding.UTF8.GetString(new Core.Rows.RowView(c.KeyRow!).Value(0)))).Order().ToList();
        Assert.Equal([(ChangeKind.Update, "Salem"), (ChangeKind.Update, "Tulsa"), (ChangeKind.Delete, "Boise"), (ChangeKind.Insert, "Nampa")],
            kinds.OrderBy(k => k.Item1 == ChangeKind.Update ? 0 : k.Item1 == ChangeKind.Delete ? 1 : 2).ThenBy(k => k.Item2));
        var tulsa = fed.Changes.Single(c => c.Kind == ChangeKind.Update && new Core.Rows.RowView(c.After!).Value(0).SequenceEqual("Tulsa"u8));
        Assert.True(new Core.Rows.RowView(tulsa.Before!).IsNull(2));   // the before image in the new schema: it had no mayor

        // The table applies changes again.
        store.Apply(Txn(new RowChange(ChangeKind.Update, Reshaped, Row("Salem", "OR", "Mayor S"))));
        Assert.Equal("Mayor S", Get(store, "pub.cities.Salem/OR", 2));
    }

    [Fact]
    public void A_load_with_the_same_schema_keeps_the_versions_of_unchanged_rows()
    {
        var store = NewStore(Row("Tulsa", "OK", "1"), Row("Salem", "OR", "2"));
        Assert.True(store.TryGetRow(Encoding.UTF8.GetBytes("pub.cities.Tulsa/OK"), out var tulsa));
        var load = store.BeginTableLoad(Cities, ["pub"]);
        load.LoadSnapshotRows(Cities, [Row("Tulsa", "OK", "1"), Row("Salem", "OR", "3")]);
        var swap = Txn(new RowChange(ChangeKind.Load, Cities));
        store.Apply(swap);
        Assert.True(store.TryGetRow(Encoding.UTF8.GetBytes("pub.cities.Tulsa/OK"), out var after));
        Assert.Equal(tulsa.VersionLsn, after.VersionLsn);
        Assert.Equal("3", Get(store, "pub.cities.Salem/OR", 2));
        Assert.Equal(FeedRead.Transaction, store.Feed.TryRead(new Lsn(swap.CommitLsn.Value - 1), out var fed));
        Assert.Single(fed!.Changes);
    }

    [Fact]
    public void Changes_of_a_table_not_held_are_ignored_until_it_is_loaded_and_unpublish_removes_it()
    {
        var store = NewStore(Row("Tulsa", "OK", "1"));
        var towns = new TableSchema(200, "public", "towns", Cities.Columns, ReplicaIdentity.Default);
        store.Apply(Txn(new RowChange(ChangeKind.Insert, towns, Row("Ada", "OK", "1"))));
        Assert.Null(store.FindPublication("pub")!.FindTable("towns"));

        var load = store.BeginTableLoad(towns, ["pub"]);
        load.LoadSnapshotRows(towns, [Row("Ada", "OK", "1"), Row("Enid", "OK", "2")]);
        store.Apply(Txn(new RowChange(ChangeKind.Load, towns)));
        Assert.Equal("2", Get(store, "pub.towns.Enid/OK", 2));

        var unpublish = Txn(new RowChange(ChangeKind.Unpublish, towns));
        store.Apply(unpublish);
        Assert.Null(store.FindPublication("pub")!.FindTable("towns"));
        Assert.Null(Get(store, "pub.towns.Enid/OK", 2));
        Assert.Equal(FeedRead.Transaction, store.Feed.TryRead(new Lsn(unpublish.CommitLsn.Value - 1), out var fed));
        Assert.Equal(ChangeKind.Truncate, Assert.Single(fed!.Changes).Kind);
    }

    [Fact]
    public void A_fresh_snapshot_over_a_serving_store_keeps_serving_the_old_data_until_it_completes()
    {
        var store = NewStore(Row("Tulsa", "OK", "1"));
        store.BeginSnapshot([new PublicationSchema("pub", [Cities])]);
        store.LoadSnapshotRows(Cities, [Row("Salem", "OR", "2")]);
        Assert.True(store.IsReady);
        Assert.True(store.IsResnapshotting);
        Assert.Equal("1", Get(store, "pub.cities.Tulsa/OK", 2));
        Assert.Null(Get(store, "pub.cities.Salem/OR", 2));
        store.CompleteSnapshot(new Lsn(0x10_0000));
        Assert.False(store.IsResnapshotting);
        Assert.Null(Get(store, "pub.cities.Tulsa/OK", 2));
        Assert.Equal("2", Get(store, "pub.cities.Salem/OR", 2));
    }

    [Fact]
    public void Pinned_snapshot_does_not_see_later_transactions()
    {
        var store = NewStore(Row("Tulsa", "OK", "1"), Row("Salem", "OR", "1"));
        var key1 = Encoding.UTF8.GetBytes("pub.cities.Tulsa/OK");
        var key2 = Encoding.UTF8.GetBytes("pub.cities.Salem/OR");
        using var pin = store.Pin();
        store.Apply(Txn(
            new RowChange(ChangeKind.Update, Cities, Row("Tulsa", "OK", "2")),
            new RowChange(ChangeKind.Update, Cities, Row("Salem", "OR", "2"))));
        store.Apply(Txn(new RowChange(ChangeKind.Delete, Cities, OldRow: Row("Tulsa", "OK", null))));
        Assert.True(store.TryGetRow(key1, pin, out var a));
        Assert.True(store.TryGetRow(key2, pin, out var b));
        Assert.Equal("1", Encoding.UTF8.GetString(a.View.Value(2)));
        Assert.Equal("1", Encoding.UTF8.GetString(b.View.Value(2)));
        Assert.False(store.TryGetRow(key1, out _));
        Assert.Equal("2", Get(store, "pub.cities.Salem/OR", 2));
    }

    [Fact]
    public void Replayed_transactions_are_ignored()
    {
        var store = NewStore(Row("Tulsa", "OK", "1"));
        var txn = Txn(new RowChange(ChangeKind.Update, Cities, Row("Tulsa", "OK", "2")));
        store.Apply(txn);
        store.Apply(new Transaction(1, txn.CommitLsn, txn.EndLsn, txn.CommitTime, 1,
            [new RowChange(ChangeKind.Update, Cities, Row("Tulsa", "OK", "3"))]));
        Assert.Equal("2", Get(store, "pub.cities.Tulsa/OK", 2));
    }

    [Fact]
    public void Feed_carries_complete_before_and_after_images_and_reports_lost_positions()
    {
        var store = NewStore(Row("Tulsa", "OK", "1"));
        var start = store.VisibleLsn;
        store.Apply(Txn(new RowChange(ChangeKind.Update, Cities, Row("Tulsa", "OK", "2"))));
        Assert.Equal(FeedRead.Transaction, store.Feed.TryRead(start, out var txn));
        var change = Assert.Single(txn!.Changes);
        Assert.Equal("1", Encoding.UTF8.GetString(new Pgrelay.Core.Rows.RowView(change.Before!).Value(2)));
        Assert.Equal("2", Encoding.UTF8.GetString(change.AfterView!.Value.Value(2)));
        Assert.Equal(FeedRead.Empty, store.Feed.TryRead(txn.CommitLsn, out _));
        Assert.Equal(FeedRead.Lost, store.Feed.TryRead(new Lsn(1), out _));
    }

    [Fact]
    public void Many_rows_survive_growth_and_scan_returns_each_once()
    {
        var rows = Enumerable.Range(0, 5000).Select(i => Row("c" + i, "S", i.ToString())).ToArray();
        var store = NewStore(rows);
        var table = store.FindPublication("pub")!.FindTable("cities")!;
        for (int i = 0; i < 5000; i += 7) Assert.Equal(i.ToString(), Get(store, $"pub.cities.c{i}/S", 2));
        using var pin = store.Pin();
        var seen = new HashSet<string>();
        ulong cursor = 0;
        int calls = 0;
        do
        {
            var page = new List<Pgrelay.Store.Tables.RowRef>();
            cursor = table.Scan(cursor, 100, pin, page);
            foreach (var r in page) seen.Add(Encoding.UTF8.GetString(r.View.Value(0)));
        } while (cursor != 0 && ++calls < 10_000);
        Assert.Equal(5000, seen.Count);
    }

    [Fact]
    public void Pages_come_in_key_order()
    {
        var store = NewStore(Row("b", "S", "2"), Row("a", "S", "1"), Row("c", "S", "3"));
        var table = store.FindPublication("pub")!.FindTable("cities")!;
        using var pin = store.Pin();
        var first = table.Page(default, false, 2, pin);
        Assert.Equal(["a", "b"], first.Select(r => Encoding.UTF8.GetString(r.View.Value(0))));
        var second = table.Page(Encoding.UTF8.GetBytes("b/S"), true, 2, pin);
        Assert.Equal(["c"], second.Select(r => Encoding.UTF8.GetString(r.View.Value(0))));
    }

    [Fact]
    public async Task Readers_never_see_half_a_transaction()
    {
        // Two rows always updated together to the same value; concurrent readers pinning a snapshot must
        // always see them equal.
        var store = NewStore(Row("a", "S", "0"), Row("b", "S", "0"));
        var ka = Encoding.UTF8.GetBytes("pub.cities.a/S");
        var kb = Encoding.UTF8.GetBytes("pub.cities.b/S");
        using var stop = new CancellationTokenSource();
        int torn = 0, reads = 0;
        var reader = Task.Run(() =>
        {
            while (!stop.IsCancellationRequested && reads < 2_000_000)
            {
                using var pin = store.Pin();
                store.TryGetRow(ka, pin, out var a);
                store.TryGetRow(kb, pin, out var b);
                if (!a.View.Value(2).SequenceEqual(b.View.Value(2))) torn++;
                reads++;
            }
        });
        for (int i = 1; i <= 20_000; i++)
            store.Apply(Txn(
                new RowChange(ChangeKind.Update, Cities, Row("a", "S", i.ToString())),
                new RowChange(ChangeKind.Update, Cities, Row("b", "S", i.ToString()))));
        stop.Cancel();
        await reader.WaitAsync(TimeSpan.FromMinutes(1));
        Assert.Equal(0, torn);
        Assert.Equal("20000", Get(store, "pub.cities.a/S", 2));
    }
}
