using Pgrelay.Core.Model;
using Pgrelay.Core.Rows;
using Pgrelay.Store;

namespace Pgrelay.Fuzz;

/// <summary>
/// A small store for the targets to read: a composite text key (with '/' and '%' in key values, the characters the
/// key encodings must survive), an integer key, NULLs, and a table outside schema public.
/// </summary>
public static class SampleStore
{
    public static readonly TableSchema Cities = new(1001, "public", "cities",
        [new ColumnSchema("name", PgTypes.Text, -1, true), new ColumnSchema("state", PgTypes.Text, -1, true),
         new ColumnSchema("population", PgTypes.Int4, -1, false)],
        ReplicaIdentity.Default);

    public static readonly TableSchema Users = new(1002, "public", "users",
        [new ColumnSchema("id", PgTypes.Int8, -1, true), new ColumnSchema("name", PgTypes.Text, -1, false),
         new ColumnSchema("tags", 1009, -1, false)],
        ReplicaIdentity.Default);

    public static readonly TableSchema Items = new(1003, "inventory", "items",
        [new ColumnSchema("sku", PgTypes.Text, -1, true), new ColumnSchema("qty", PgTypes.Int4, -1, false)],
        ReplicaIdentity.Default);

    public static ReplicatedStore Create()
    {
        var store = new ReplicatedStore();
        store.BeginSnapshot([new PublicationSchema("pub", [Cities, Users, Items])]);
        store.LoadSnapshotRows(Cities, [RowBuilder.FromText(["Tulsa", "OK", "413066"]), RowBuilder.FromText(["a/b", "c%d", null]),
            RowBuilder.FromText(["Zürich", "ZH", "421878"])]);
        store.LoadSnapshotRows(Users, [RowBuilder.FromText(["1", "Ada \"Countess\"", "{math,poetry}"]), RowBuilder.FromText(["2", null, "{}"])]);
        store.LoadSnapshotRows(Items, [RowBuilder.FromText(["A-1", "7"])]);
        store.CompleteSnapshot(new Lsn(1000));
        return store;
    }
}
