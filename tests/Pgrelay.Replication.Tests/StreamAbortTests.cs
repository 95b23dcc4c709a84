using Pgrelay.Store;
using Pgrelay.Testing;
using Xunit;

namespace Pgrelay.Replication.Tests;

/// <summary>
/// Stream Abort messages, for a whole streamed transaction and for a subtransaction (ROLLBACK TO SAVEPOINT), followed by
/// more work: on PostgreSQL 16+ with protocol 4 and <c>streaming = on</c> the server sends an abort without LSN and
/// time while Npgsql reads both, misparses what follows and the session hangs (issue 10, item 2).
/// </summary>
public abstract class StreamAbortTests(PostgresFixture pg)
{
    public sealed class PG14(Postgres14Fixture pg) : StreamAbortTests(pg), IClassFixture<Postgres14Fixture>;
    public sealed class PG15(PostgresFixture pg) : StreamAbortTests(pg), IClassFixture<PostgresFixture>;
    public sealed class PG16(Postgres16Fixture pg) : StreamAbortTests(pg), IClassFixture<Postgres16Fixture>;
    public sealed class PG17(Postgres17Fixture pg) : StreamAbortTests(pg), IClassFixture<Postgres17Fixture>;
    public sealed class PG18(Postgres18Fixture pg) : StreamAbortTests(pg), IClassFixture<Postgres18Fixture>;

    [Fact]
    public async Task Aborted_streamed_transactions_and_savepoints_then_more_commits_are_exact_in_the_store()
    {
        var db = await pg.NewDatabaseAsync();
        await pg.ExecuteAsync(db, """
            CREATE TABLE s (id int PRIMARY KEY, v text);
            INSERT INTO s SELECT g, 'seed ' || g FROM generate_series(1, 100) g;
            CREATE PUBLICATION pub FOR TABLE s;
            """);
        var store = new ReplicatedStore();
        await using var run = ReplicationRun.Start(pg, db, store);
        await run.WaitForStreamingAsync();

        // 1. A streamed transaction rolled back as a whole.
        await Assertions.RollBackOnceStreamedAsync(pg, db, run.Service.SlotName, """
            INSERT INTO s SELECT g, repeat('x', 100) FROM generate_series(1000, 20000) g;
            UPDATE s SET v = 'gone' WHERE id <= 50;
            """);
        // 2. A committed streamed transaction with a streamed subtransaction rolled back, and one released.
        await pg.ExecuteAsync(db, """
            BEGIN;
            INSERT INTO s SELECT g, 'top' FROM generate_series(20001, 30000) g;
            SAVEPOINT a;
            INSERT INTO s SELECT g, 'sub' FROM generate_series(30001, 45000) g;
            DELETE FROM s WHERE id <= 10;
            ROLLBACK TO SAVEPOINT a;
            SAVEPOINT b;
            UPDATE s SET v = 'kept sub' WHERE id BETWEEN 11 AND 20;
            RELEASE SAVEPOINT b;
            INSERT INTO s SELECT g, 'top again' FROM generate_series(50001, 55000) g;
            COMMIT;
            """);
        // 3. Ordinary work afterwards must still arrive.
        await pg.ExecuteAsync(db, "INSERT INTO s VALUES (99999, 'after')");
        await pg.ExecuteAsync(db, "UPDATE s SET v = 'later' WHERE id = 21; DELETE FROM s WHERE id = 22");
        await run.SyncAsync();

        var streamed = await Assertions.StreamedTransactionsAsync(pg, db, run.Service.SlotName, atLeast: 2);
        Assert.True(streamed >= 2, $"PostgreSQL should have streamed both big transactions (stream_txns = {streamed})");
        Assert.Equal(15100, await Assertions.StoreMatchesAsync(pg, db, store));
    }
}
