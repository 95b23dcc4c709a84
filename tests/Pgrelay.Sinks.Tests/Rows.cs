using Pgrelay.Core.Changes;
using Pgrelay.Core.Model;
using Pgrelay.Core.Rows;
using Pgrelay.Store;

namespace Pgrelay.Sinks.Tests;

/// <summary>Schemas, rows and transactions from PostgreSQL text values, for tests without a database.</summary>
internal static class Rows
{
    public static readonly TableSchema Users = new(200, "public", "users",
    [
        new ColumnSchema("id", PgTypes.Int4, -1, true),
        new ColumnSchema("email", PgTypes.Text, -1, false),
        new ColumnSchema("age", PgTypes.Int4, -1, false),
        new ColumnSchema("country", PgTypes.Text, -1, false),
    ], ReplicaIdentity.Default);

    private static ulong _lsn = 0x10000;

    public static byte[] Row(params string?[] values) => RowBuilder.FromText(values);

    public static ReplicatedStore NewStore(params byte[][] rows)
    {
        var store = new ReplicatedStore();
        store.BeginSnapshot([new PublicationSchema("pub", [Users])]);
        store.LoadSnapshotRows(Users, rows);
        store.CompleteSnapshot(new Lsn(0x100));
        return store;
    }

    public static Transaction Txn(params RowChange[] changes)
    {
        _lsn += 0x100;
        return new Transaction(7, new Lsn(_lsn), new Lsn(_lsn + 8), new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero), changes.Length, changes);
    }
}

/// <summary>Events for target tests: inserts of users built through the real event path.</summary>
internal static class TestEvents
{
    public static Events.SinkBatch Inserts(int first, int count)
    {
        var store = Rows.NewStore();
        var changes = Enumerable.Range(first, count)
            .Select(i => new RowChange(ChangeKind.Insert, Rows.Users, Rows.Row(i.ToString(), $"user{i}@example.com", "30", "NO"))).ToArray();
        store.Apply(Rows.Txn(changes));
        var read = new List<Store.Feed.CommittedTransaction>();
        store.Feed.TryReadAfterEnd(store.Feed.OldestResumableEndLsn, 10, read);
        var batch = new Events.SinkBatch { EndLsn = read[0].EndLsn };
        new Events.EventBuilder(Sinks.Rules.RuleSet.For("t", []), false).Add(read[0], batch.Events);
        return batch;
    }
}
