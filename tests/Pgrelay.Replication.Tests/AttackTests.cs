using System.Text;
using Npgsql;
using Pgrelay.Store;
using Pgrelay.Testing;
using Xunit;

namespace Pgrelay.Replication.Tests;

/// <summary>
/// Edges tried as a careful user and an attacker would, through the real service and store, each compared with
/// PostgreSQL's own rows.
/// </summary>
public abstract class AttackTests(PostgresFixture pg)
{
    public sealed class PG15(Attack15Fixture pg) : AttackTests(pg), IClassFixture<Attack15Fixture>;
    public sealed class PG17(Attack17Fixture pg) : AttackTests(pg), IClassFixture<Attack17Fixture>;

    /// <summary>Clusters that allow prepared transactions.</summary>
    public class AttackFixture : PostgresFixture
    {
        protected AttackFixture(int version) : base(version) => Options.ExtraSettings.Add("max_prepared_transactions = 5");
    }
    public sealed class Attack15Fixture() : AttackFixture(15);
    public sealed class Attack17Fixture() : AttackFixture(17);

    private static ReplicationRun Start(PostgresHarness pg, string db, ReplicatedStore store, ListLoggerFactory? log = null) =>
        ReplicationRun.Start(pg, db, store, o => o.PublicationPollInterval = TimeSpan.FromMilliseconds(300), log);

    private static bool Has(ReplicatedStore store, string key) => store.TryGetRow(Encoding.UTF8.GetBytes(key), out _);

    [Fact]
    public async Task Two_rows_swapping_primary_keys_in_one_statement_are_both_kept()
    {
        var db = await pg.NewDatabaseAsync();
        await pg.ExecuteAsync(db, """
            CREATE TABLE t (id int PRIMARY KEY DEFERRABLE INITIALLY DEFERRED, v text);
            ALTER TABLE t REPLICA IDENTITY FULL;
            INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, 'c');
            CREATE PUBLICATION pub FOR TABLE t;
            """);
        var store = new ReplicatedStore();
        await using var run = Start(pg, db, store);
        await run.WaitForStreamingAsync();
        await pg.ExecuteAsync(db, "UPDATE t SET id = 3 - id WHERE id IN (1, 2)");
        await run.SettleAsync();
        await StoreAssertions.MatchesAsync(pg, db, store, "t");
        // A rotation through three keys.
        await pg.ExecuteAsync(db, "UPDATE t SET id = id % 3 + 1");
        await run.SettleAsync();
        await StoreAssertions.MatchesAsync(pg, db, store, "t");
        // A row changed while it shares its key, then moved away; a shared key's other row deleted.
        await pg.ExecuteAsync(db, "BEGIN; UPDATE t SET id = 2 WHERE id = 1; UPDATE t SET v = v || '!' WHERE id = 2 AND ctid = (SELECT min(ctid) FROM t WHERE id = 2); UPDATE t SET id = 1 WHERE id = 2 AND v LIKE '%!'; COMMIT;");
        await pg.ExecuteAsync(db, "BEGIN; UPDATE t SET id = 3 WHERE id = 2; DELETE FROM t WHERE id = 3 AND ctid = (SELECT min(ctid) FROM t WHERE id = 3); INSERT INTO t VALUES (2, 'new'); COMMIT;");
        await run.SettleAsync();
        await StoreAssertions.MatchesAsync(pg, db, store, "t");
        Assert.Equal(3, await pg.ScalarAsync<long>(db, "SELECT count(*) FROM t"));
    }

    [Fact]
    public async Task A_row_inserted_under_a_deferred_key_before_the_old_row_goes_is_kept()
    {
        var db = await pg.NewDatabaseAsync();
        await pg.ExecuteAsync(db, """
            CREATE TABLE t (id int PRIMARY KEY DEFERRABLE INITIALLY DEFERRED, v text);
            ALTER TABLE t REPLICA IDENTITY FULL;
            INSERT INTO t VALUES (1, 'a'), (2, 'b');
            CREATE PUBLICATION pub FOR TABLE t;
            """);
        var store = new ReplicatedStore();
        await using var run = Start(pg, db, store);
        await run.WaitForStreamingAsync();
        await pg.ExecuteAsync(db, "BEGIN; INSERT INTO t VALUES (1, 'new'); DELETE FROM t WHERE id = 1 AND v = 'a'; INSERT INTO t VALUES (2, 'new'); UPDATE t SET id = 3 WHERE id = 2 AND v = 'b'; COMMIT;");
        await run.SettleAsync();
        await StoreAssertions.MatchesAsync(pg, db, store, "t");
    }

    [Fact]
    public async Task Two_rows_swapping_deferred_primary_keys_under_an_identity_index_are_both_kept()
    {
        var db = await pg.NewDatabaseAsync();
        await pg.ExecuteAsync(db, """
            CREATE TABLE t (id int PRIMARY KEY DEFERRABLE INITIALLY DEFERRED, u int NOT NULL UNIQUE, v text);
            ALTER TABLE t REPLICA IDENTITY USING INDEX t_u_key;
            INSERT INTO t VALUES (1, 10, 'a'), (2, 20, 'b'), (3, 30, 'c');
            CREATE PUBLICATION pub FOR TABLE t;
            """);
        var store = new ReplicatedStore();
        await using var run = Start(pg, db, store);
        await run.WaitForStreamingAsync();
        await pg.ExecuteAsync(db, "UPDATE t SET id = 3 - id WHERE id IN (1, 2)");
        await run.SettleAsync();
        await StoreAssertions.MatchesAsync(pg, db, store, "t");
    }

    [Fact]
    public async Task Two_rows_swapping_primary_keys_through_a_spare_key_in_one_transaction_are_both_kept()
    {
        var db = await pg.NewDatabaseAsync();
        await pg.ExecuteAsync(db, """
            CREATE TABLE t (id int PRIMARY KEY, v text);
            INSERT INTO t VALUES (1, 'a'), (2, 'b');
            CREATE PUBLICATION pub FOR TABLE t;
            """);
        var store = new ReplicatedStore();
        await using var run = Start(pg, db, store);
        await run.WaitForStreamingAsync();
        await pg.ExecuteAsync(db, "BEGIN; UPDATE t SET id = 0 WHERE id = 1; UPDATE t SET id = 1 WHERE id = 2; UPDATE t SET id = 2 WHERE id = 0; COMMIT;");
        await run.SettleAsync();
        await StoreAssertions.MatchesAsync(pg, db, store, "t");
    }

    [Fact]
    public async Task Truncate_of_several_tables_with_restart_identity_and_rows_after_it()
    {
        var db = await pg.NewDatabaseAsync();
        await pg.ExecuteAsync(db, """
            CREATE TABLE a (id serial PRIMARY KEY, v text);
            CREATE TABLE b (id serial PRIMARY KEY, v text);
            CREATE TABLE c (id int PRIMARY KEY);
            INSERT INTO a (v) SELECT 'x' FROM generate_series(1, 10);
            INSERT INTO b (v) SELECT 'y' FROM generate_series(1, 10);
            INSERT INTO c SELECT generate_series(1, 5);
            CREATE PUBLICATION pub FOR TABLE a, b, c;
            """);
        var store = new ReplicatedStore();
        await using var run = Start(pg, db, store);
        await run.WaitForStreamingAsync();
        await pg.ExecuteAsync(db, "BEGIN; INSERT INTO c VALUES (6); TRUNCATE a, b RESTART IDENTITY; INSERT INTO a (v) VALUES ('after'); UPDATE c SET id = 7 WHERE id = 6; COMMIT;");
        await run.SettleAsync();
        foreach (var t in new[] { "a", "b", "c" }) await StoreAssertions.MatchesAsync(pg, db, store, t);
        Assert.True(Has(store, "pub.a.1"));
        Assert.False(Has(store, "pub.a.2"));
    }

    [Fact]
    public async Task A_renamed_table_is_served_under_its_new_name_only()
    {
        var db = await pg.NewDatabaseAsync();
        await pg.ExecuteAsync(db, """
            CREATE TABLE t (id int PRIMARY KEY, v text);
            CREATE TABLE other (id int PRIMARY KEY);
            INSERT INTO t VALUES (1, 'a'), (2, 'b');
            CREATE PUBLICATION pub FOR TABLE t, other;
            """);
        var store = new ReplicatedStore();
        await using var run = Start(pg, db, store);
        await run.WaitForStreamingAsync();
        await pg.ExecuteAsync(db, "ALTER TABLE t RENAME TO t2; UPDATE t2 SET v = 'z' WHERE id = 1; INSERT INTO other VALUES (1);");
        await run.WaitAsync(() => StoreAssertions.Table(store, "t2") is not null && StoreAssertions.Table(store, "t") is null, "t to be served as t2");
        await run.SettleAsync();
        await StoreAssertions.MatchesAsync(pg, db, store, "t2");
        Assert.False(Has(store, "pub.t.1"));
        Assert.True(Has(store, "pub.t2.2"));
    }

    [Fact]
    public async Task A_renamed_table_without_later_changes_is_served_under_its_new_name()
    {
        var db = await pg.NewDatabaseAsync();
        await pg.ExecuteAsync(db, """
            CREATE TABLE t (id int PRIMARY KEY, v text);
            INSERT INTO t VALUES (1, 'a'), (2, 'b');
            CREATE PUBLICATION pub FOR TABLE t;
            """);
        var store = new ReplicatedStore();
        await using var run = Start(pg, db, store);
        await run.WaitForStreamingAsync();
        await pg.ExecuteAsync(db, "ALTER TABLE t RENAME TO t2");
        await run.WaitAsync(() => StoreAssertions.Table(store, "t2") is not null && StoreAssertions.Table(store, "t") is null, "t to be served as t2");
        await run.SettleAsync();
        await StoreAssertions.MatchesAsync(pg, db, store, "t2");
    }

    [Fact]
    public async Task A_table_moved_to_another_schema_is_served_there()
    {
        var db = await pg.NewDatabaseAsync();
        await pg.ExecuteAsync(db, """
            CREATE SCHEMA s;
            CREATE TABLE t (id int PRIMARY KEY, v text);
            INSERT INTO t VALUES (1, 'a'), (2, 'b');
            CREATE PUBLICATION pub FOR TABLE t;
            """);
        var store = new ReplicatedStore();
        await using var run = Start(pg, db, store);
        await run.WaitForStreamingAsync();
        await pg.ExecuteAsync(db, "ALTER TABLE t SET SCHEMA s; INSERT INTO s.t VALUES (3, 'c');");
        await run.WaitAsync(() => store.Tables.Any(t => t.Schema.SchemaName == "s"), "t to be served in schema s");
        await run.SettleAsync();
        Assert.DoesNotContain(store.Tables, t => t.Schema.SchemaName == "public" && t.Schema.TableName == "t");
        await StoreAssertions.MatchesAsync(pg, db, store, "t");
        Assert.True(Has(store, "pub.s.t.3"));
        Assert.False(Has(store, "pub.t.1"));
    }

    [Fact]
    public async Task A_renamed_column_is_served_under_its_new_name()
    {
        var db = await pg.NewDatabaseAsync();
        await pg.ExecuteAsync(db, """
            CREATE TABLE t (id int PRIMARY KEY, a text, b text);
            INSERT INTO t VALUES (1, 'a1', 'b1'), (2, 'a2', 'b2');
            CREATE PUBLICATION pub FOR TABLE t;
            """);
        var store = new ReplicatedStore();
        await using var run = Start(pg, db, store);
        await run.WaitForStreamingAsync();
        await pg.ExecuteAsync(db, "BEGIN; ALTER TABLE t RENAME COLUMN a TO c; UPDATE t SET b = 'x' WHERE id = 1; ALTER TABLE t RENAME COLUMN b TO a; UPDATE t SET c = 'y' WHERE id = 2; COMMIT;");
        await run.WaitAsync(() => StoreAssertions.Table(store, "t")!.Schema.Columns.Any(c => c.Name == "c"), "the new shape");
        await run.SettleAsync();
        await StoreAssertions.MatchesAsync(pg, db, store, "t");
    }

    [Fact]
    public async Task Ddl_and_updates_in_one_transaction_then_another_alter_end_exact()
    {
        var db = await pg.NewDatabaseAsync();
        await pg.ExecuteAsync(db, """
            CREATE TABLE t (id int PRIMARY KEY, a text, n numeric);
            INSERT INTO t SELECT g, 'a' || g, g FROM generate_series(1, 200) g;
            CREATE PUBLICATION pub FOR TABLE t;
            """);
        var store = new ReplicatedStore();
        await using var run = Start(pg, db, store);
        await run.WaitForStreamingAsync();
        await pg.ExecuteAsync(db, "BEGIN; UPDATE t SET a = 'before' WHERE id < 10; ALTER TABLE t ADD COLUMN d int DEFAULT 5; UPDATE t SET d = id WHERE id < 20; DELETE FROM t WHERE id = 100; COMMIT;");
        await pg.ExecuteAsync(db, "ALTER TABLE t DROP COLUMN a; UPDATE t SET d = -1 WHERE id = 150;");
        await pg.ExecuteAsync(db, "ALTER TABLE t ALTER COLUMN n TYPE numeric(10,2); INSERT INTO t VALUES (1000, 1.5, 7);");
        await run.WaitAsync(() => StoreAssertions.Table(store, "t") is { } t && t.Schema.Columns.All(c => c.Name != "a"), "the new shape");
        await run.SettleAsync();
        await StoreAssertions.MatchesAsync(pg, db, store, "t");
    }

    [Fact]
    public async Task Ddl_inside_a_streamed_big_transaction_ends_exact()
    {
        var db = await pg.NewDatabaseAsync();
        await pg.ExecuteAsync(db, """
            CREATE TABLE t (id int PRIMARY KEY, a text);
            INSERT INTO t SELECT g, 'a' || g FROM generate_series(1, 100) g;
            CREATE PUBLICATION pub FOR TABLE t;
            """);
        var store = new ReplicatedStore();
        await using var run = Start(pg, db, store);
        await run.WaitForStreamingAsync();
        await pg.ExecuteAsync(db, """
            BEGIN;
            INSERT INTO t SELECT g, repeat('x', 200) FROM generate_series(1000, 5000) g;
            ALTER TABLE t ADD COLUMN b int;
            UPDATE t SET b = id WHERE id % 7 = 0;
            ALTER TABLE t DROP COLUMN a;
            INSERT INTO t SELECT g, g FROM generate_series(6000, 9000) g;
            COMMIT;
            """);
        await run.WaitAsync(() => StoreAssertions.Table(store, "t") is { } t && t.Schema.Columns.All(c => c.Name != "a"), "the new shape");
        await run.SettleAsync();
        await StoreAssertions.MatchesAsync(pg, db, store, "t");
    }

    [Fact]
    public async Task A_table_added_and_dropped_again_at_once_is_not_served()
    {
        var db = await pg.NewDatabaseAsync();
        await pg.ExecuteAsync(db, """
            CREATE TABLE first (id int PRIMARY KEY);
            CREATE TABLE t (id int PRIMARY KEY);
            INSERT INTO t SELECT generate_series(1, 50000);
            CREATE PUBLICATION pub FOR TABLE first;
            """);
        var store = new ReplicatedStore();
        await using var run = Start(pg, db, store);
        await run.WaitForStreamingAsync();
        await pg.ExecuteAsync(db, "ALTER PUBLICATION pub ADD TABLE t");
        await run.WaitAsync(() => run.Status.Reloads.Count > 0, "the load to be decided");
        await pg.ExecuteAsync(db, "ALTER PUBLICATION pub DROP TABLE t; INSERT INTO first VALUES (1);");
        await run.WaitForPublicationChecksAsync();
        await run.SettleAsync();
        Assert.Null(StoreAssertions.Table(store, "t"));
        Assert.False(Has(store, "pub.t.1"));
    }

    [Fact]
    public async Task A_row_filter_changed_at_runtime_serves_exactly_the_rows_it_selects()
    {
        if (pg.Version < 15) return;
        var db = await pg.NewDatabaseAsync();
        await pg.ExecuteAsync(db, """
            CREATE TABLE t (id int PRIMARY KEY, v text);
            INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 20) g;
            CREATE PUBLICATION pub FOR TABLE t WHERE (id <= 10);
            """);
        var store = new ReplicatedStore();
        await using var run = Start(pg, db, store);
        await run.WaitForStreamingAsync();
        Assert.Equal(10, StoreAssertions.Table(store, "t")!.RowCount);
        await pg.ExecuteAsync(db, "ALTER PUBLICATION pub SET TABLE t WHERE (id > 5)");
        await run.WaitForPublicationChecksAsync();
        await run.SettleAsync();
        var expected = await pg.ScalarAsync<long>(db, "SELECT count(*) FROM t WHERE id > 5");
        var keys = StoreAssertions.Rows(store, "t").Select(r => int.Parse(r.Key)).Order().ToList();
        Assert.Equal(Enumerable.Range(6, 15).ToList(), keys);
        Assert.Equal(expected, keys.Count);
    }

    [Fact]
    public async Task A_partitioned_table_published_via_its_root_is_one_table()
    {
        if (pg.Version < 13) return;
        var db = await pg.NewDatabaseAsync();
        await pg.ExecuteAsync(db, """
            CREATE TABLE p (id int PRIMARY KEY, v text) PARTITION BY RANGE (id);
            CREATE TABLE p1 PARTITION OF p FOR VALUES FROM (0) TO (100);
            CREATE TABLE p2 PARTITION OF p FOR VALUES FROM (100) TO (200);
            INSERT INTO p SELECT g, 'v' || g FROM generate_series(1, 150) g;
            CREATE PUBLICATION pub FOR TABLE p WITH (publish_via_partition_root = true);
            """);
        var store = new ReplicatedStore();
        await using var run = Start(pg, db, store);
        await run.WaitForStreamingAsync();
        await pg.ExecuteAsync(db, "UPDATE p SET id = 180 WHERE id = 5; INSERT INTO p VALUES (199, 'z'); DELETE FROM p WHERE id = 120;");
        await run.SettleAsync();
        await StoreAssertions.MatchesAsync(pg, db, store, "p");
        Assert.Null(StoreAssertions.Table(store, "p1"));
    }

    [Fact]
    public async Task A_partitioned_table_published_by_partition_is_its_partitions()
    {
        var db = await pg.NewDatabaseAsync();
        await pg.ExecuteAsync(db, """
            CREATE TABLE p (id int PRIMARY KEY, v text) PARTITION BY RANGE (id);
            CREATE TABLE p1 PARTITION OF p FOR VALUES FROM (0) TO (100);
            CREATE TABLE p2 PARTITION OF p FOR VALUES FROM (100) TO (200);
            INSERT INTO p SELECT g, 'v' || g FROM generate_series(1, 150) g;
            CREATE PUBLICATION pub FOR TABLE p;
            """);
        var store = new ReplicatedStore();
        await using var run = Start(pg, db, store);
        await run.WaitForStreamingAsync();
        await pg.ExecuteAsync(db, "UPDATE p SET id = 180 WHERE id = 5; INSERT INTO p VALUES (199, 'z'); DELETE FROM p WHERE id = 120;");
        await run.SettleAsync();
        await StoreAssertions.MatchesAsync(pg, db, store, "p1");
        await StoreAssertions.MatchesAsync(pg, db, store, "p2");
        Assert.Null(StoreAssertions.Table(store, "p"));
    }

    [Fact]
    public async Task A_partition_attached_or_detached_at_runtime_adds_or_removes_its_rows()
    {
        var db = await pg.NewDatabaseAsync();
        await pg.ExecuteAsync(db, """
            CREATE TABLE p (id int PRIMARY KEY, v text) PARTITION BY RANGE (id);
            CREATE TABLE p1 PARTITION OF p FOR VALUES FROM (0) TO (100);
            CREATE TABLE p2 (id int PRIMARY KEY, v text);
            INSERT INTO p SELECT g, 'v' || g FROM generate_series(1, 50) g;
            INSERT INTO p2 SELECT g, 'w' || g FROM generate_series(100, 150) g;
            CREATE PUBLICATION pub FOR TABLE p WITH (publish_via_partition_root = true);
            """);
        var store = new ReplicatedStore();
        await using var run = Start(pg, db, store);
        await run.WaitForStreamingAsync();
        await pg.ExecuteAsync(db, "ALTER TABLE p ATTACH PARTITION p2 FOR VALUES FROM (100) TO (200)");
        await run.WaitForPublicationChecksAsync();
        await pg.ExecuteAsync(db, "INSERT INTO p VALUES (160, 'n')");
        await run.SettleAsync();
        await StoreAssertions.MatchesAsync(pg, db, store, "p");
        Assert.True(Has(store, "pub.p.120"));
        await pg.ExecuteAsync(db, "ALTER TABLE p DETACH PARTITION p1");
        await run.WaitForPublicationChecksAsync();
        await pg.ExecuteAsync(db, "INSERT INTO p VALUES (161, 'n')");
        await run.SettleAsync();
        await StoreAssertions.MatchesAsync(pg, db, store, "p");
        Assert.False(Has(store, "pub.p.1"));
    }

    [Fact]
    public async Task A_transaction_prepared_before_start_and_committed_after_is_served()
    {
        var db = await pg.NewDatabaseAsync();
        await pg.ExecuteAsync(db, """
            CREATE TABLE t (id int PRIMARY KEY, v text);
            INSERT INTO t VALUES (1, 'a');
            CREATE PUBLICATION pub FOR TABLE t;
            """);
        if (await pg.ScalarAsync<string>(db, "SHOW max_prepared_transactions") == "0") return;
        string gid = "attack_" + db;
        await pg.ExecuteAsync(db, $"BEGIN; INSERT INTO t VALUES (2, 'prepared'); UPDATE t SET v = 'p' WHERE id = 1; PREPARE TRANSACTION '{gid}';");
        var store = new ReplicatedStore();
        await using var run = Start(pg, db, store);
        try
        {
            await Task.Delay(1500);   // start-up waits for the prepared transaction to end
            await pg.ExecuteAsync(db, "INSERT INTO t VALUES (3, 'c')");
            await pg.ExecuteAsync(db, $"COMMIT PREPARED '{gid}'");
        }
        finally
        {
            // A prepared transaction left behind would hold every later slot creation in this cluster.
            if (await pg.ScalarAsync<long>(db, $"SELECT count(*) FROM pg_prepared_xacts WHERE gid = '{gid}'") > 0)
                await pg.ExecuteAsync(db, $"ROLLBACK PREPARED '{gid}'");
        }
        await run.WaitForStreamingAsync();
        await run.SettleAsync();
        await StoreAssertions.MatchesAsync(pg, db, store, "t");
    }

    [Fact]
    public async Task Subtransactions_rolled_back_and_released_end_exact()
    {
        var db = await pg.NewDatabaseAsync();
        await pg.ExecuteAsync(db, """
            CREATE TABLE t (id int PRIMARY KEY, v text);
            INSERT INTO t SELECT g, 'v' FROM generate_series(1, 10) g;
            CREATE PUBLICATION pub FOR TABLE t;
            """);
        var store = new ReplicatedStore();
        await using var run = Start(pg, db, store);
        await run.WaitForStreamingAsync();
        await pg.ExecuteAsync(db, """
            BEGIN;
            UPDATE t SET v = 'top' WHERE id = 1;
            SAVEPOINT a; UPDATE t SET v = 'a' WHERE id = 2; DELETE FROM t WHERE id = 3;
            SAVEPOINT b; UPDATE t SET id = 30 WHERE id = 4; ROLLBACK TO SAVEPOINT b;
            UPDATE t SET id = 40 WHERE id = 4; RELEASE SAVEPOINT a;
            SAVEPOINT c; INSERT INTO t VALUES (3, 'again'); ROLLBACK TO SAVEPOINT c;
            INSERT INTO t VALUES (3, 'kept');
            COMMIT;
            """);
        await run.SettleAsync();
        await StoreAssertions.MatchesAsync(pg, db, store, "t");
    }

    [Fact]
    public async Task Toasted_values_unchanged_under_identity_full_without_primary_key_keep_their_rows()
    {
        var db = await pg.NewDatabaseAsync();
        await pg.ExecuteAsync(db, """
            CREATE TABLE t (a int, body text, n int);
            ALTER TABLE t ALTER COLUMN body SET STORAGE EXTERNAL;
            ALTER TABLE t REPLICA IDENTITY FULL;
            INSERT INTO t SELECT g % 3, (SELECT string_agg(md5(i::text || g), '') FROM generate_series(1, 200) i), 0 FROM generate_series(1, 6) g;
            INSERT INTO t SELECT * FROM t WHERE a = 0;
            CREATE PUBLICATION pub FOR TABLE t;
            """);
        var store = new ReplicatedStore();
        await using var run = Start(pg, db, store);
        await run.WaitForStreamingAsync();
        await pg.ExecuteAsync(db, "UPDATE t SET n = n + 1 WHERE a = 1; UPDATE t SET a = 5 WHERE a = 0; DELETE FROM t WHERE a = 2;");
        await run.SettleAsync();
        var expected = (await pg.ReadTableAsync(db, StoreAssertions.Table(store, "t")!.Schema)).Keys.Order();
        Assert.Equal(expected, StoreAssertions.Rows(store, "t").Select(r => r.Key).Distinct().Order());
        Assert.Equal(await pg.ScalarAsync<long>(db, "SELECT count(*) FROM t"), StoreAssertions.Table(store, "t")!.RowCount);
    }

    [Fact]
    public async Task A_table_in_two_publications_dropped_from_one_stays()
    {
        var db = await pg.NewDatabaseAsync();
        await pg.ExecuteAsync(db, """
            CREATE TABLE t (id int PRIMARY KEY, v text);
            INSERT INTO t VALUES (1, 'a'), (2, 'b');
            CREATE PUBLICATION pub FOR TABLE t;
            CREATE PUBLICATION pub2 FOR TABLE t;
            """);
        var store = new ReplicatedStore();
        await using var run = ReplicationRun.Start(pg, db, store, o => o.PublicationPollInterval = TimeSpan.FromMilliseconds(300), null, "pub", "pub2");
        await run.WaitForStreamingAsync();
        Assert.True(Has(store, "pub.t.1"));
        Assert.True(Has(store, "pub2.t.1"));
        await pg.ExecuteAsync(db, "ALTER PUBLICATION pub DROP TABLE t");
        await run.WaitForPublicationChecksAsync();
        await pg.ExecuteAsync(db, "UPDATE t SET v = 'z' WHERE id = 1");
        await run.SettleAsync();
        Assert.False(Has(store, "pub.t.1"));
        Assert.True(Has(store, "pub2.t.1"));
        Assert.True(Has(store, "pub2.t.2"));
    }

    [Fact]
    public async Task A_dropped_table_recreated_with_the_same_name_is_served_fresh()
    {
        var db = await pg.NewDatabaseAsync();
        await pg.ExecuteAsync(db, """
            CREATE TABLE t (id int PRIMARY KEY, v text);
            INSERT INTO t VALUES (1, 'a'), (2, 'b');
            CREATE PUBLICATION pub FOR ALL TABLES;
            """);
        var store = new ReplicatedStore();
        await using var run = Start(pg, db, store);
        await run.WaitForStreamingAsync();
        await pg.ExecuteAsync(db, "DROP TABLE t; CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t VALUES (3, 'c');");
        await run.WaitForPublicationChecksAsync();
        await run.SettleAsync();
        await StoreAssertions.MatchesAsync(pg, db, store, "t");
        Assert.False(Has(store, "pub.t.1"));
    }

    private static async Task Exec(NpgsqlConnection conn, string sql)
    {
        await using var cmd = new NpgsqlCommand(sql, conn);
        await cmd.ExecuteNonQueryAsync();
    }
}
