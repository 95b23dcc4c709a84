using Pgrelay.Core.Changes;
using Pgrelay.Core.Model;
using Pgrelay.Core.Rows;
using Pgrelay.Store;

namespace Pgrelay.Http.Tests;

/// <summary>Schemas and rows built from literal PostgreSQL text output, loaded through the store's replication interface.</summary>
internal static class TestData
{
    /// <summary>One column of every common type, keyed by id.</summary>
    public static readonly TableSchema Everything = new(200, "public", "everything",
    [
        new ColumnSchema("id", PgTypes.Int4, -1, true),
        new ColumnSchema("small", PgTypes.Int2, -1, false),
        new ColumnSchema("big", PgTypes.Int8, -1, false),
        new ColumnSchema("real", PgTypes.Float4, -1, false),
        new ColumnSchema("double", PgTypes.Float8, -1, false),
        new ColumnSchema("money", PgTypes.Numeric, -1, false),
        new ColumnSchema("flag", PgTypes.Bool, -1, false),
        new ColumnSchema("name", PgTypes.Text, -1, false),
        new ColumnSchema("code", PgTypes.BpChar, -1, false),
        new ColumnSchema("doc", PgTypes.Jsonb, -1, false),
        new ColumnSchema("raw", PgTypes.Bytea, -1, false),
        new ColumnSchema("day", PgTypes.Date, -1, false),
        new ColumnSchema("at", PgTypes.Time, -1, false),
        new ColumnSchema("at_tz", PgTypes.TimeTz, -1, false),
        new ColumnSchema("stamp", PgTypes.Timestamp, -1, false),
        new ColumnSchema("stamp_tz", PgTypes.TimestampTz, -1, false),
        new ColumnSchema("span", PgTypes.Interval, -1, false),
        new ColumnSchema("uid", PgTypes.Uuid, -1, false),
        new ColumnSchema("ints", 1007, -1, false),
        new ColumnSchema("words", 1009, -1, false),
        new ColumnSchema("nothing", PgTypes.Text, -1, false),
    ], ReplicaIdentity.Default);

    public static readonly string?[] EverythingRow =
    [
        "1", "-2", "9007199254740993", "1.5", "NaN", "12345678901234567890.000000000000000001", "t", "say \"hi\"\n", "ab  ",
        "{\"a\": [1, 2], \"b\": null}", "\\x0a0b", "2024-01-31", "12:34:56", "12:00:00+02", "2024-01-31 12:00:00.123",
        "2024-01-31 12:00:00+00", "1 day 02:00:00", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "{1,NULL,3}", "{a,\"b c\"}", null,
    ];

    /// <summary>A table outside schema public with a two-column key.</summary>
    public static readonly TableSchema Cities = new(201, "geo", "cities",
    [
        new ColumnSchema("name", PgTypes.Text, -1, true),
        new ColumnSchema("state", PgTypes.Text, -1, true),
        new ColumnSchema("population", PgTypes.Int4, -1, false),
    ], ReplicaIdentity.Default);

    private static ulong _lsn = 0x5000;

    public static byte[] Row(params string?[] values) => RowBuilder.FromText(values);

    /// <summary>A store holding "pub" with both tables, the snapshot loaded but not completed.</summary>
    public static ReplicatedStore LoadingStore(params byte[][] cities)
    {
        var store = new ReplicatedStore();
        store.BeginSnapshot([new PublicationSchema("pub", [Everything, Cities])]);
        store.LoadSnapshotRows(Everything, [Row(EverythingRow)]);
        if (cities.Length > 0) store.LoadSnapshotRows(Cities, cities);
        return store;
    }

    public static ReplicatedStore ReadyStore(params byte[][] cities)
    {
        var store = LoadingStore(cities);
        store.CompleteSnapshot(new Lsn(0x1000));
        return store;
    }

    public static Transaction Txn(params RowChange[] changes)
    {
        ulong lsn = Interlocked.Add(ref _lsn, 0x100);
        return new Transaction(7, new Lsn(lsn), new Lsn(lsn + 8), DateTimeOffset.UtcNow, changes.Length, changes);
    }
}
