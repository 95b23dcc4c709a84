using Pgrelay.Core.Changes;
using Pgrelay.Core.Model;
using Pgrelay.Core.Rows;

namespace Pgrelay.Store.Tests;

/// <summary>Builds schemas, rows and transactions for store tests from PostgreSQL text values.</summary>
internal static class StoreBuilder
{
    public static readonly TableSchema Cities = new(100, "public", "cities",
    [
        new ColumnSchema("name", PgTypes.Text, -1, true),
        new ColumnSchema("state", PgTypes.Text, -1, true),
        new ColumnSchema("population", PgTypes.Int4, -1, false),
    ], ReplicaIdentity.Default);

    private static ulong _lsn = 0x1000;

    public static byte[] Row(params string?[] values)
    {
        var builder = new RowBuilder();
        foreach (var v in values)
        {
            if (v == "\u0000unchanged") builder.AddUnchanged();
            else builder.AddText(v);
        }
        return builder.Build();
    }

    public const string Unchanged = "\u0000unchanged";

    public static ReplicatedStore NewStore(params byte[][] rows)
    {
        var store = new ReplicatedStore();
        store.BeginSnapshot([new PublicationSchema("pub", [Cities])]);
        store.LoadSnapshotRows(Cities, rows);
        store.CompleteSnapshot(new Lsn(0x100));
        return store;
    }

    public static Transaction Txn(params RowChange[] changes)
    {
        // Test classes run in parallel: a plain += could hand a store an LSN below one it already applied.
        ulong lsn = Interlocked.Add(ref _lsn, 0x100);
        return new Transaction(1, new Lsn(lsn), new Lsn(lsn + 8), DateTimeOffset.UtcNow, changes.Length, changes);
    }

    public static string? Get(ReplicatedStore store, string key, int column)
    {
        if (!store.TryGetRow(System.Text.Encoding.UTF8.GetBytes(key), out var row)) return null;
        var view = row.View;
        return view.IsNull(column) ? "NULL" : System.Text.Encoding.UTF8.GetString(view.Value(column));
    }
}
