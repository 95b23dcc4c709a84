using System.Text;
using Npgsql;
using Pgrelay.Core.Changes;
using Pgrelay.Store;
using Pgrelay.Store.Feed;
using Pgrelay.Testing;
using Xunit;

namespace Pgrelay.Replication.Tests;

/// <summary>ALTER PUBLICATION while running (issue 10 item 9): adding loads the table's existing rows beside the stream,
/// without a gap or a duplicate; removing removes.</summary>
public abstract class PublicationChangeTests(PostgresFixture pg)
{
    public sealed class PG14(Postgres14Fixture pg) : PublicationChangeTests(pg), IClassFixture<Postgres14Fixture>;
    public sealed class PG15(PostgresFixture pg) : PublicationChangeTests(pg), IClassFixture<PostgresFixture>;
    public sealed class PG16(Postgres16Fixture pg) : PublicationChangeTests(pg), IClassFixture<Postgres16Fixture>;
    public sealed class PG17(Postgres17Fixture pg) : PublicationChangeTests(pg), IClassFixture<Postgres17Fixture>;
    public sealed class PG18(Postgres18Fixture pg) : PublicationChangeTests(pg), IClassFixture<Postgres18Fixture>;

    private static ReplicationRun Start(PostgresHarness pg, string db, ReplicatedStore store, TimeSpan? poll = null, ListLoggerFactory? log = null) =>
        ReplicationRun.Start(pg, db, store, o => o.PublicationPollInterval = poll ?? TimeSpan.FromMilliseconds(500), log);

    /// <summary>
    /// A table with existing rows joins the publication while a workload changes it: inserts, updates, deletes, key changes
    /// and updates that leave a TOASTed value unchanged, before the load's snapshot, during its copy and after it. A
    /// transaction held open across the decision makes the load's snapshot wait, so some of the workload lands on each side.
    /// </summary>
    [Fact]
    public async Task A_table_added_to_the_publication_is_loaded_exactly_under_a_concurrent_workload()
    {
        var db = await pg.NewDatabaseAsync();
        await pg.ExecuteAsync(db, """
            CREATE TABLE first (id int PRIMARY KEY);
            CREATE TABLE docs (id int PRIMARY KEY, title text, n int, body text);
            ALTER TABLE docs ALTER COLUMN body SET STORAGE EXTERNAL;
            INSERT INTO docs SELECT g, 't' || g, 0, CASE WHEN g % 50 = 0 THEN (SELECT string_agg(md5(random()::text || g || i), '') FROM generate_series(1, 300) i) END
              FROM generate_series(1, 20000) g;
            CREATE PUBLICATION pub FOR TABLE first;
            """);
        var store = new ReplicatedStore();
        var log = new ListLoggerFactory();
        await using var run = Start(pg, db, store, log: log);
        await run.WaitForStreamingAsync();

        using var stop = new CancellationTokenSource();
        var workload = Task.Run(() => WorkloadAsync(db, stop.Token));
        await using (var holder = await pg.OpenAsync(db))
        {
            await Exec(holder, "BEGIN; INSERT INTO docs VALUES (-1, 'held', 0, NULL)");
            await pg.ExecuteAsync(db, "ALTER PUBLICATION pub ADD TABLE docs");
            await run.WaitAsync(() => run.Status.Reloads.Any(r => r.Table.Contains("docs")), "the load of docs to be decided");
            await Task.Delay(300);   // let the workload run while the load's snapshot waits for the held transaction
            await Exec(holder, "COMMIT");
        }
        await run.WaitAsync(() => StoreAssertions.Table(store, "docs") is not null, "docs to be loaded");
        await Task.Delay(300);
        stop.Cancel();
        int transactions = await workload;
        Assert.True(transactions > 0);
        await run.SettleAsync();
        await StoreAssertions.MatchesAsync(pg, db, store, "docs");
        Assert.True(store.TryGetRow(Encoding.UTF8.GetBytes("pub.docs.-1"), out _));
        Assert.True(log.Contains("table public.docs loaded beside the stream"));
    }

    private async Task<int> WorkloadAsync(string db, CancellationToken ct)
    {
        var random = new Random(7);
        await using var conn = await pg.OpenAsync(db);
        int n = 0;
        for (; n < 3000 && !ct.IsCancellationRequested; n++)
        {
            int id = random.Next(1, 20000);
            string sql = random.Next(6) switch
            {
                0 => $"INSERT INTO docs VALUES ({100000 + n}, 'new', {n}, NULL)",
                1 => $"DELETE FROM docs WHERE id = {id}",
                2 => $"UPDATE docs SET id = id + 200000 WHERE id = {id}",
                3 => $"UPDATE docs SET n = n + 1 WHERE id = {id / 50 * 50 + 50}",   // a TOASTed row: body unchanged
                _ => $"UPDATE docs SET title = 'u{n}', n = n + 1 WHERE id BETWEEN {id} AND {id + 3}",
            };
            await Exec(conn, sql);
        }
        return n;
    }

    [Fact]
    public async Task A_table_without_primary_key_and_identity_full_is_added_with_its_rows()
    {
        var db = await pg.NewDatabaseAsync();
        await pg.ExecuteAsync(db, """
            CREATE TABLE first (id int PRIMARY KEY);
            CREATE TABLE bag (a int, b text);
            ALTER TABLE bag REPLICA IDENTITY FULL;
            INSERT INTO bag VALUES (1, 'x'), (1, 'x'), (2, 'y'), (3, NULL);
            CREATE PUBLICATION pub FOR TABLE first;
            """);
        var store = new ReplicatedStore();
        await using var run = Start(pg, db, store);
        await run.WaitForStreamingAsync();
        await pg.ExecuteAsync(db, "ALTER PUBLICATION pub ADD TABLE bag; INSERT INTO bag VALUES (4, 'z');");
        await run.WaitAsync(() => StoreAssertions.Table(store, "bag") is not null, "bag to be loaded");
        await pg.ExecuteAsync(db, "DELETE FROM bag WHERE a = 2; UPDATE bag SET b = 'w' WHERE a = 3;");
        await run.SettleAsync();
        // Every row, identical ones as copies.
        var expected = (await pg.ReadTableAsync(db, StoreAssertions.Table(store, "bag")!.Schema)).Keys.Order();
        Assert.Equal(expected, StoreAssertions.Rows(store, "bag").Select(r => r.Key).Distinct().Order());
        Assert.Contains("1/x", expected);
        Assert.Contains("4/z", expected);
        Assert.Equal(await pg.ScalarAsync<long>(db, "SELECT count(*) FROM bag"), StoreAssertions.Table(store, "bag")!.RowCount);
        Assert.Equal(4, await pg.ScalarAsync<long>(db, "SELECT count(*) FROM bag"));
    }

    [Fact]
    public async Task A_table_dropped_from_the_publication_is_removed_and_subscribers_see_it_go()
    {
        var db = await pg.NewDatabaseAsync();
        await pg.ExecuteAsync(db, """
            CREATE TABLE kept (id int PRIMARY KEY);
            CREATE TABLE gone (id int PRIMARY KEY, v text);
            INSERT INTO kept SELECT generate_series(1, 10);
            INSERT INTO gone SELECT g, 'v' FROM generate_series(1, 10) g;
            CREATE PUBLICATION pub FOR TABLE kept, gone;
            """);
        var store = new ReplicatedStore();
        await using var run = Start(pg, db, store);
        await run.WaitForStreamingAsync();
        Assert.True(store.TryGetRow(Encoding.UTF8.GetBytes("pub.gone.1"), out _));
        var from = store.Feed.NewestLsn;

        await pg.ExecuteAsync(db, "ALTER PUBLICATION pub DROP TABLE gone");
        await run.WaitAsync(() => StoreAssertions.Table(store, "gone") is null, "gone to be removed");
        Assert.False(store.TryGetRow(Encoding.UTF8.GetBytes("pub.gone.1"), out _));
        var truncates = new List<AppliedChange>();
        for (var at = from; store.Feed.TryRead(at, out var t) == FeedRead.Transaction; at = t!.CommitLsn)
            truncates.AddRange(t!.Changes.Where(c => c.Kind == ChangeKind.Truncate));
        Assert.Equal("gone", Assert.Single(truncates).Schema.TableName);
        await pg.ExecuteAsync(db, "INSERT INTO kept VALUES (11); UPDATE gone SET v = 'after' WHERE id = 1;");
        await run.SettleAsync();
        await StoreAssertions.MatchesAsync(pg, db, store, "kept");
    }

    /// <summary>Removed and added again between two looks at the publication: the stream sent nothing for it meanwhile, so
    /// it is loaded again (the membership row in pg_publication_rel is new).</summary>
    [Fact]
    public async Task A_table_removed_and_added_again_between_two_looks_is_loaded_again()
    {
        var db = await pg.NewDatabaseAsync();
        await pg.ExecuteAsync(db, """
            CREATE TABLE t (id int PRIMARY KEY, v text);
            INSERT INTO t SELECT g, 'v' FROM generate_series(1, 10) g;
            CREATE PUBLICATION pub FOR TABLE t;
            """);
        var store = new ReplicatedStore();
        await using var run = Start(pg, db, store, poll: TimeSpan.FromSeconds(2));
        await run.WaitForStreamingAsync();
        await pg.ExecuteAsync(db, """
            ALTER PUBLICATION pub DROP TABLE t;
            UPDATE t SET v = 'unpublished' WHERE id <= 5;
            DELETE FROM t WHERE id = 10;
            ALTER PUBLICATION pub ADD TABLE t;
            """);
        await run.WaitAsync(() => StoreAssertions.Rows(store, "t").Count == 9, "t to be loaded again");
        await run.SettleAsync();
        await StoreAssertions.MatchesAsync(pg, db, store, "t");
    }

    private static async Task Exec(NpgsqlConnection conn, string sql)
    {
        await using var cmd = new NpgsqlCommand(sql, conn);
        await cmd.ExecuteNonQueryAsync();
    }
}
