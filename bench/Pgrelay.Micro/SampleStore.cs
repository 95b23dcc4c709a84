using Pgrelay.Core.Model;
using Pgrelay.Core.Rows;
using Pgrelay.Store;

namespace Pgrelay.Micro;

/// <summary>A store holding the grades-shaped rows, filled through the same interface replication uses.</summary>
internal static class SampleStore
{
    public static readonly TableSchema Grades = new(1, "public", "grades",
    [
        new ColumnSchema("last_name", PgTypes.Text, -1, false),
        new ColumnSchema("first_name", PgTypes.Text, -1, false),
        new ColumnSchema("ssn", PgTypes.Text, -1, true),
        new ColumnSchema("test1", PgTypes.Numeric, -1, false),
        new ColumnSchema("test2", PgTypes.Numeric, -1, false),
        new ColumnSchema("test3", PgTypes.Numeric, -1, false),
        new ColumnSchema("test4", PgTypes.Numeric, -1, false),
        new ColumnSchema("final", PgTypes.Numeric, -1, false),
        new ColumnSchema("grade", PgTypes.Text, -1, false),
        new ColumnSchema("updated", PgTypes.TimestampTz, -1, false),
        new ColumnSchema("passed", PgTypes.Bool, -1, false),
    ], ReplicaIdentity.Default);

    public static ReplicatedStore Create(int rows)
    {
        var store = new ReplicatedStore();
        store.BeginSnapshot([new PublicationSchema("pub", [Grades])]);
        var builder = new RowBuilder();
        var batch = new List<byte[]>();
        for (int i = 0; i < rows; i++)
        {
            builder.AddValue("Rubble");
            builder.AddValue("Betty");
            builder.AddValue($"{i:000-00-0000}");
            foreach (var v in new[] { "44.0", "90.0", "80.0", "90.0", "46.0" }) builder.AddValue(v);
            builder.AddValue("C-");
            builder.AddValue("2024-01-31 12:00:00.123456+00");
            builder.AddValue(i % 2 == 0 ? "t" : "f");
            batch.Add(builder.Build());
        }
        store.LoadSnapshotRows(Grades, batch);
        store.CompleteSnapshot(new Lsn(0x1000));
        return store;
    }
}
