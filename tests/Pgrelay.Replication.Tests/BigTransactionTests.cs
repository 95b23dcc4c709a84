using Pgrelay.Core.Changes;
using Pgrelay.Testing;
using Xunit;

namespace Pgrelay.Replication.Tests;

/// <summary>Transactions bigger than logical_decoding_work_mem (64kB here): streamed, buffered, spilled, rolled back.</summary>
public abstract class BigTransactionTests(PostgresFixture pg)
{
    public sealed class PG14(Postgres14Fixture pg) : BigTransactionTests(pg), IClassFixture<Postgres14Fixture>;
    public sealed class PG15(PostgresFixture pg) : BigTransactionTests(pg), IClassFixture<PostgresFixture>;
    public sealed class PG16(Postgres16Fixture pg) : BigTransactionTests(pg), IClassFixture<Postgres16Fixture>;
    public sealed class PG17(Postgres17Fixture pg) : BigTransactionTests(pg), IClassFixture<Postgres17Fixture>;
    public sealed class PG18(Postgres18Fixture pg) : BigTransactionTests(pg), IClassFixture<Postgres18Fixture>;

    [Fact]
    public async Task A_million_row_transaction_streams_spills_and_applies_at_once()
    {
        var db = await pg.NewDatabaseAsync();
        await pg.ExecuteAsync(db, """
            CREATE TABLE big (id int PRIMARY KEY, v text);
            CREATE PUBLICATION pub FOR TABLE big;
            """);
        var target = new RecordingTarget();
        var logs = new ListLoggerFactory();
        await using var run = ReplicationRun.Start(pg, db, target, o => o.SpillThresholdBytes = 4 * 1024 * 1024, logs);
        await run.WaitForStreamingAsync();
        await pg.ExecuteAsync(db, "INSERT INTO big SELECT g, 'value ' || g FROM generate_series(1, 1000000) g");
        await run.SyncAsync();
        var txn = Assert.Single(target.Transactions, t => t.Count > 0);
        Assert.Equal(1_000_000, txn.Count);
        var (_, rows) = target.Snapshot("big");
        Assert.Equal(1_000_000, rows.Count);
        Assert.Equal("value 777", rows["777"][1]);
        Assert.True(logs.Contains("from its spill file"), "the transaction should have been spilled");
        Assert.True(await StreamedTransactionsAsync(db, run) > 0, "PostgreSQL should have streamed the transaction");
    }

    [Fact]
    public async Task A_rolled_back_streamed_transaction_leaves_no_trace()
    {
        var db = await pg.NewDatabaseAsync();
        await pg.ExecuteAsync(db, """
            CREATE TABLE r (id int PRIMARY KEY, v text);
            INSERT INTO r VALUES (1, 'keep');
            CREATE PUBLICATION pub FOR TABLE r;
            """);
        var target = new RecordingTarget();
        await using var run = ReplicationRun.Start(pg, db, target, o => o.SpillThresholdBytes = 256 * 1024);
        await run.WaitForStreamingAsync();
        await Assertions.RollBackOnceStreamedAsync(pg, db, run.Service.SlotName, """
            INSERT INTO r SELECT g, repeat('x', 100) FROM generate_series(2, 50000) g;
            UPDATE r SET v = 'gone' WHERE id = 1;
            """);
        await pg.ExecuteAsync(db, "INSERT INTO r VALUES (2, 'after')");
        await run.SyncAsync();
        Assert.True(await StreamedTransactionsAsync(db, run) > 0, "PostgreSQL should have streamed the transaction");
        await run.SyncAsync();
        var (_, rows) = target.Snapshot("r");
        Assert.Equal(["1", "2"], rows.Keys.Order());
        Assert.Equal("keep", rows["1"][1]);
    }

    [Fact]
    public async Task A_rolled_back_savepoint_inside_a_committed_streamed_transaction_is_dropped()
    {
        var db = await pg.NewDatabaseAsync();
        await pg.ExecuteAsync(db, """
            CREATE TABLE s (id int PRIMARY KEY, v text);
            CREATE PUBLICATION pub FOR TABLE s;
            """);
        var target = new RecordingTarget();
        // A small spill bound so the savepoint's changes straddle memory and the spill file.
        await using var run = ReplicationRun.Start(pg, db, target, o => o.SpillThresholdBytes = 512 * 1024);
        await run.WaitForStreamingAsync();
        await pg.ExecuteAsync(db, """
            BEGIN;
            INSERT INTO s SELECT g, 'top' FROM generate_series(1, 20000) g;
            SAVEPOINT sp1;
            INSERT INTO s SELECT g, 'sub' FROM generate_series(20001, 60000) g;
            UPDATE s SET v = 'sub-updated' WHERE id <= 100;
            ROLLBACK TO SAVEPOINT sp1;
            SAVEPOINT sp2;
            INSERT INTO s SELECT g, 'kept-sub' FROM generate_series(70001, 75000) g;
            RELEASE SAVEPOINT sp2;
            INSERT INTO s SELECT g, 'top-again' FROM generate_series(80001, 90000) g;
            COMMIT;
            """);
        await run.SyncAsync();
        Assert.True(await StreamedTransactionsAsync(db, run) > 0, "PostgreSQL should have streamed the transaction");
        var (_, rows) = target.Snapshot("s");
        Assert.Equal(35000, rows.Count);
        Assert.Equal("top", rows["50"][1]);
        Assert.False(rows.ContainsKey("30000"));
        await Assertions.TableMatchesAsync(pg, run, "s");
    }

    private Task<long> StreamedTransactionsAsync(string db, ReplicationRun run) =>
        Assertions.StreamedTransactionsAsync(pg, db, run.Service.SlotName);
}
