using Pgrelay.Core.Changes;
using Pgrelay.Core.Model;
using Pgrelay.Core.Rows;
using Pgrelay.Store;

namespace Pgrelay.Memcached.Tests;

/// <summary>Schemas and rows in PostgreSQL text format, loaded into a real <see cref="ReplicatedStore"/>.</summary>
internal static class TestData
{
    public static readonly TableSchema Cities = new(100, "public", "cities",
    [
        new ColumnSchema("name", PgTypes.Text, -1, true),
        new ColumnSchema("state", PgTypes.Text, -1, true),
        new ColumnSchema("population", PgTypes.Int4, -1, false),
    ], ReplicaIdentity.Default);

    public static readonly TableSchema Users = new(200, "public", "users",
    [
        new ColumnSchema("id", PgTypes.Int8, -1, true),
        new ColumnSchema("name", PgTypes.Text, -1, false),
        new ColumnSchema("active", PgTypes.Bool, -1, false),
        new ColumnSchema("balance", PgTypes.Numeric, -1, false),
        new ColumnSchema("tags", 1009, -1, false),
    ], ReplicaIdentity.Default);

    /// <summary>A table outside schema public: its key name is "inventory.items".</summary>
    public static readonly TableSchema Items = new(300, "inventory", "items",
    [
        new ColumnSchema("sku", PgTypes.Text, -1, true),
        new ColumnSchema("qty", PgTypes.Int4, -1, false),
    ], ReplicaIdentity.Default);

    private static ulong _lsn = 0x10000;

    public static byte[] Row(params string?[] values) => RowBuilder.FromText(values);

    public static ReplicatedStore NewStore()
    {
        var store = new ReplicatedStore();
        store.BeginSnapshot([new PublicationSchema("pub", [Cities, Users, Items])]);
        store.LoadSnapshotRows(Cities,
        [
            Row("Tulsa", "OK", "413066"),
            Row("Portland", "OR", "652503"),
            Row("Salem", "OR", "175535"),
            Row("Austin", "TX", "961855"),
            Row("Boise", "ID", "235684"),
        ]);
        store.LoadSnapshotRows(Users,
        [
            Row("1", "Ada \"Countess\" Lovelace", "t", "12.50", "{math,poetry}"),
            Row("2", "Grace", "f", null, "{}"),
        ]);
        store.LoadSnapshotRows(Items, [Row("A-1", "7")]);
        store.CompleteSnapshot(new Lsn(0x1000));
        return store;
    }

    public static Transaction Txn(params RowChange[] changes)
    {
        ulong lsn = Interlocked.Add(ref _lsn, 0x100);
        return new Transaction(1, new Lsn(lsn), new Lsn(lsn + 8), DateTimeOffset.UtcNow, changes.Length, changes);
    }

    public const string Tulsa = """{"name":"Tulsa","state":"OK","population":413066}""";
    public const string Ada = """{"id":1,"name":"Ada \"Countess\" Lovelace","active":true,"balance":12.50,"tags":["math","poetry"]}""";
    public const string Sku = """{"sku":"A-1","qty":7}""";
}
