using System.Text;
using Npgsql;
using Pgrelay.Core.Model;
using Pgrelay.Core.Rows;
using Pgrelay.Store;
using Pgrelay.Store.Tables;
using Pgrelay.Testing;
using Xunit;

namespace Pgrelay.Replication.Tests;

/// <summary>
/// Keys are the primary key whatever the replica identity, key parts are escaped so that composite keys cannot collide,
/// and tables without a primary key keep every copy of identical rows (issue 10, items 5 to 8). Every check compares the
/// real store, fed by real replication, with PostgreSQL's own rows.
/// </summary>
public abstract class KeyExactnessTests(PostgresFixture pg)
{
    public sealed class PG14(Postgres14Fixture pg) : KeyExactnessTests(pg), IClassFixture<Postgres14Fixture>;
    public sealed class PG15(PostgresFixture pg) : KeyExactnessTests(pg), IClassFixture<PostgresFixture>;
    public sealed class PG16(Postgres16Fixture pg) : KeyExactnessTests(pg), IClassFixture<Postgres16Fixture>;
    public sealed class PG17(Postgres17Fixture pg) : KeyExactnessTests(pg), IClassFixture<Postgres17Fixture>;
    public sealed class PG18(Postgres18Fixture pg) : KeyExactnessTests(pg), IClassFixture<Postgres18Fixture>;

    [Fact]
    public async Task Replica_identity_using_index_keeps_the_primary_key_as_the_key()
    {
        var db = await pg.NewDatabaseAsync();
        await pg.ExecuteAsync(db, """
            CREATE TABLE t (id int PRIMARY KEY, a text NOT NULL, b int);
            CREATE UNIQUE INDEX t_a ON t (a);
            ALTER TABLE t REPLICA IDENTITY USING INDEX t_a;
            INSERT INTO t VALUES (1, 'x', 10), (2, 'y', 20), (3, 'z', 30), (5, 'v', 50);
            CREATE PUBLICATION pub FOR TABLE t;
            """);
        var store = new ReplicatedStore();
        await using var run = ReplicationRun.Start(pg, db, store);
        await run.WaitForStreamingAsync();
        await pg.ExecuteAsync(db, """
            UPDATE t SET b = 11 WHERE id = 1;          -- identity unchanged: no old tuple
            UPDATE t SET a = 'y2' WHERE id = 2;        -- identity changed: the old tuple carries only a
            DELETE FROM t WHERE id = 3;                -- the old tuple carries only a
            UPDATE t SET id = 10 WHERE id = 1;         -- the key changes, the identity does not: no old tuple
            UPDATE t SET id = 50, a = 'v2' WHERE id = 5;
            INSERT INTO t VALUES (4, 'w', 40);
            """);
        await run.SyncAsync();

        await AssertSameRowsAsync(store, db, "t");
        Assert.Equal("11", Value(store, "pub.t.10", 2));
        Assert.Equal("y2", Value(store, "pub.t.2", 1));
        Assert.Equal("v2", Value(store, "pub.t.50", 1));
        Assert.Equal("40", Value(store, "pub.t.4", 2));
        foreach (var gone in new[] { "pub.t.1", "pub.t.3", "pub.t.5", "pub.t.x", "pub.t.y2" })
            Assert.False(store.TryGetRow(Encoding.UTF8.GetBytes(gone), out _), gone);
    }

    [Fact]
    public async Task Replica_identity_nothing_still_applies_inserts_and_says_what_it_cannot_apply()
    {
        var db = await pg.NewDatabaseAsync();
        await pg.ExecuteAsync(db, """
            CREATE TABLE log (id int PRIMARY KEY, msg text);
            ALTER TABLE log REPLICA IDENTITY NOTHING;
            CREATE TABLE nokey (v int, w text);
            INSERT INTO log VALUES (1, 'a');
            INSERT INTO nokey VALUES (1, 'a');
            CREATE PUBLICATION pub FOR TABLE log, nokey WITH (publish = 'insert');
            """);
        var logs = new ListLoggerFactory();
        var store = new ReplicatedStore();
        await using var run = ReplicationRun.Start(pg, db, store, loggers: logs);
        await run.WaitForStreamingAsync();
        // Allowed by PostgreSQL because the publication does not publish updates and deletes; never streamed.
        await pg.ExecuteAsync(db, """
            INSERT INTO log VALUES (2, 'b'); INSERT INTO log VALUES (3, 'c');
            UPDATE log SET msg = 'changed' WHERE id = 1;
            INSERT INTO nokey VALUES (2, 'b'), (1, 'a');
            """);
        await run.SyncAsync();
        await pg.ExecuteAsync(db, "INSERT INTO log VALUES (4, 'd')");
        await run.SyncAsync();

        var log = Table(store, "log");
        Assert.Equal(4, log.RowCount);
        Assert.Equal("b", Value(store, "pub.log.2", 1));
        Assert.Equal("d", Value(store, "pub.log.4", 1));
        Assert.Equal(3, Table(store, "nokey").RowCount);
        // Said once, on the table (so /status shows it) and in the log, from the start.
        Assert.Equal(["update", "delete", "truncate"], log.Schema.UnreplicatedChanges.Names());
        Assert.Equal(["update", "delete", "truncate"], Table(store, "nokey").Schema.UnreplicatedChanges.Names());
        Assert.Single(logs.Lines, l => l.Contains("log") && l.Contains("may be stale"));
    }

    [Fact]
    public async Task Composite_key_parts_are_escaped_so_they_never_collide()
    {
        var db = await pg.NewDatabaseAsync();
        await pg.ExecuteAsync(db, """
            CREATE TABLE c (p text, q text, v int, PRIMARY KEY (p, q));
            INSERT INTO c VALUES ('x/y', 'z', 1), ('x', 'y/z', 2), ('a%2Fb', 'c', 3), ('a/b', 'c', 4), ('%', '', 5), ('', '%', 6);
            CREATE PUBLICATION pub FOR TABLE c;
            """);
        var store = new ReplicatedStore();
        await using var run = ReplicationRun.Start(pg, db, store);
        await run.WaitForStreamingAsync();
        Assert.Equal("1", Value(store, "pub.c.x%2Fy/z", 2));
        Assert.Equal("2", Value(store, "pub.c.x/y%2Fz", 2));
        Assert.Equal("3", Value(store, "pub.c.a%252Fb/c", 2));
        Assert.Equal("4", Value(store, "pub.c.a%2Fb/c", 2));
        Assert.Equal("5", Value(store, "pub.c.%25/", 2));
        Assert.Equal("6", Value(store, "pub.c./%25", 2));
        Assert.False(store.TryGetRow("pub.c.x/y/z"u8, out _));

        await pg.ExecuteAsync(db, """
            DELETE FROM c WHERE p = 'x/y';
            UPDATE c SET v = 40 WHERE p = 'a/b';
            INSERT INTO c VALUES ('x', 'y', 7), ('x/y/z', '', 8);
            UPDATE c SET q = 'k/l' WHERE v = 6;
            """);
        await run.SyncAsync();
        await AssertSameRowsAsync(store, db, "c");
        Assert.Null(Value(store, "pub.c.x%2Fy/z", 2));
        Assert.Equal("2", Value(store, "pub.c.x/y%2Fz", 2));
        Assert.Equal("3", Value(store, "pub.c.a%252Fb/c", 2));
        Assert.Equal("40", Value(store, "pub.c.a%2Fb/c", 2));
        Assert.Equal("8", Value(store, "pub.c.x%2Fy%2Fz/", 2));
        Assert.Equal("6", Value(store, "pub.c./k%2Fl", 2));
        Assert.Equal(
            ["%25/", "/k%2Fl", "a%252Fb/c", "a%2Fb/c", "x%2Fy%2Fz/", "x/y", "x/y%2Fz"],
            await KeysAsync(store, "c"));
    }

    [Fact]
    public async Task Identical_rows_of_a_table_without_primary_key_are_all_kept_and_deleted_one_at_a_time()
    {
        var db = await pg.NewDatabaseAsync();
        await pg.ExecuteAsync(db, """
            CREATE TABLE d (a int, b text);
            ALTER TABLE d REPLICA IDENTITY FULL;
            INSERT INTO d VALUES (1, 'x'), (1, 'x'), (1, 'x'), (2, NULL), (2, NULL), (3, ''), (NULL, '/');
            CREATE PUBLICATION pub FOR TABLE d;
            """);
        var store = new ReplicatedStore();
        await using var run = ReplicationRun.Start(pg, db, store);
        await run.WaitForStreamingAsync();
        await AssertSameRowsAsync(store, db, "d");
        Assert.Equal(["%FF/%2F", "1/x", "1/x/2", "1/x/3", "2/%FF", "2/%FF/2", "3/"], await KeysAsync(store, "d"));
        Assert.Equal("x", Value(store, "pub.d.1/x/3", 1));
        Assert.False(store.TryGetRow("pub.d.1/x/4"u8, out _));
        Assert.False(store.TryGetRow("pub.d.1/x/1"u8, out _));   // the first copy has no suffix: one spelling per key
        Assert.False(store.TryGetRow("pub.d.1/x/02"u8, out _));
        Assert.True(store.TryGetRow("pub.d.2/%FF"u8, out var nullRow));
        Assert.True(nullRow.View.IsNull(1));
        Assert.True(store.TryGetRow("pub.d.3/"u8, out var emptyRow));
        Assert.False(emptyRow.View.IsNull(1));

        await pg.ExecuteAsync(db, """
            DELETE FROM d WHERE ctid = (SELECT min(ctid) FROM d WHERE a = 1);
            UPDATE d SET b = 'y' WHERE ctid = (SELECT min(ctid) FROM d WHERE a = 1);
            INSERT INTO d VALUES (2, NULL);
            UPDATE d SET a = 3, b = '' WHERE ctid = (SELECT min(ctid) FROM d WHERE a = 2);
            """);
        await run.SyncAsync();
        await AssertSameRowsAsync(store, db, "d");
        Assert.Equal(["%FF/%2F", "1/x", "1/y", "2/%FF", "2/%FF/2", "3/", "3//2"], await KeysAsync(store, "d"));
        Assert.Equal(7, Table(store, "d").RowCount);

        await pg.ExecuteAsync(db, "DELETE FROM d WHERE a = 2");
        await run.SyncAsync();
        await AssertSameRowsAsync(store, db, "d");
        Assert.Equal(5, Table(store, "d").RowCount);
    }

    [Fact]
    public async Task Identical_rows_with_toasted_values_keep_their_copies_through_updates()
    {
        var db = await pg.NewDatabaseAsync();
        await pg.ExecuteAsync(db, """
            CREATE TABLE big (id int, body text);
            ALTER TABLE big ALTER body SET STORAGE EXTERNAL;
            ALTER TABLE big REPLICA IDENTITY FULL;
            INSERT INTO big SELECT 1, repeat('toast', 4000) FROM generate_series(1, 3);
            CREATE PUBLICATION pub FOR TABLE big;
            """);
        var store = new ReplicatedStore();
        await using var run = ReplicationRun.Start(pg, db, store);
        await run.WaitForStreamingAsync();
        // The new tuple marks body unchanged; the old tuple (identity FULL) carries it flattened.
        await pg.ExecuteAsync(db, """
            UPDATE big SET id = 2 WHERE ctid = (SELECT min(ctid) FROM big);
            INSERT INTO big VALUES (1, repeat('toast', 4000));
            DELETE FROM big WHERE ctid = (SELECT min(ctid) FROM big WHERE id = 1);
            """);
        await run.SyncAsync();
        await AssertSameRowsAsync(store, db, "big");
        Assert.Equal(3, Table(store, "big").RowCount);
    }

    [Fact]
    public async Task A_table_without_primary_key_using_an_identity_index_follows_updates_and_deletes()
    {
        var db = await pg.NewDatabaseAsync();
        await pg.ExecuteAsync(db, """
            CREATE TABLE u (a int NOT NULL, b text, c int);
            CREATE UNIQUE INDEX u_a ON u (a);
            ALTER TABLE u REPLICA IDENTITY USING INDEX u_a;
            INSERT INTO u VALUES (1, 'x', 1), (2, 'y', 2), (3, NULL, 3);
            CREATE PUBLICATION pub FOR TABLE u;
            """);
        var store = new ReplicatedStore();
        await using var run = ReplicationRun.Start(pg, db, store);
        await run.WaitForStreamingAsync();
        await pg.ExecuteAsync(db, """
            UPDATE u SET b = 'x2' WHERE a = 1;
            UPDATE u SET a = 20 WHERE a = 2;
            DELETE FROM u WHERE a = 3;
            INSERT INTO u VALUES (4, 'w', 4);
            """);
        await run.SyncAsync();
        await AssertSameRowsAsync(store, db, "u");
        Assert.Equal(["1/x2/1", "20/y/2", "4/w/4"], await KeysAsync(store, "u"));
    }

    [Fact]
    public async Task Replica_identity_changed_at_runtime_keeps_the_key_and_finds_rows_by_the_new_identity()
    {
        var db = await pg.NewDatabaseAsync();
        await pg.ExecuteAsync(db, """
            CREATE TABLE t (id int PRIMARY KEY, a text NOT NULL, b int);
            CREATE UNIQUE INDEX t_a ON t (a);
            INSERT INTO t SELECT g, 'a' || g, g FROM generate_series(1, 20) g;
            CREATE PUBLICATION pub FOR TABLE t;
            """);
        var store = new ReplicatedStore();
        await using var run = ReplicationRun.Start(pg, db, store);
        await run.WaitForStreamingAsync();
        await pg.ExecuteAsync(db, """
            ALTER TABLE t REPLICA IDENTITY USING INDEX t_a;
            UPDATE t SET id = 100 WHERE id = 1;
            UPDATE t SET a = 'moved' WHERE id = 2;
            DELETE FROM t WHERE id = 3;
            """);
        await pg.ExecuteAsync(db, """
            ALTER TABLE t REPLICA IDENTITY FULL;
            UPDATE t SET id = 400 WHERE id = 4;
            DELETE FROM t WHERE a = 'moved';
            """);
        await pg.ExecuteAsync(db, """
            ALTER TABLE t REPLICA IDENTITY DEFAULT;
            UPDATE t SET id = 500, a = 'five' WHERE id = 5;
            DELETE FROM t WHERE id = 6;
            """);
        await run.SyncAsync();
        await AssertSameRowsAsync(store, db, "t");
        Assert.Equal("a1", Value(store, "pub.t.100", 1));
        Assert.Equal("five", Value(store, "pub.t.500", 1));
    }

    [Fact]
    public async Task Rows_that_become_identical_when_a_column_goes_become_copies()
    {
        var db = await pg.NewDatabaseAsync();
        await pg.ExecuteAsync(db, """
            CREATE TABLE m (a int, b text);
            ALTER TABLE m REPLICA IDENTITY FULL;
            INSERT INTO m VALUES (1, 'x'), (1, 'y'), (1, 'x'), (2, 'z');
            CREATE PUBLICATION pub FOR TABLE m;
            """);
        var store = new ReplicatedStore();
        await using var run = ReplicationRun.Start(pg, db, store);
        await run.WaitForStreamingAsync();
        Assert.Equal(["1/x", "1/x/2", "1/y", "2/z"], await KeysAsync(store, "m"));
        await pg.ExecuteAsync(db, "ALTER TABLE m DROP COLUMN b; INSERT INTO m VALUES (2);");
        await run.SettleAsync();   // the table is loaded again: dropping a column moves the others
        await AssertSameRowsAsync(store, db, "m");
        Assert.Equal(["1", "1/2", "1/3", "2", "2/2"], await KeysAsync(store, "m"));
        await pg.ExecuteAsync(db, "ALTER TABLE m ADD COLUMN c text; DELETE FROM m WHERE ctid = (SELECT min(ctid) FROM m WHERE a = 1);");
        await run.SettleAsync();
        await AssertSameRowsAsync(store, db, "m");
        Assert.Equal(["1/%FF", "1/%FF/2", "2/%FF", "2/%FF/2"], await KeysAsync(store, "m"));
    }

    [Fact]
    public async Task Names_with_dots_and_percents_are_escaped_in_keys()
    {
        var db = await pg.NewDatabaseAsync();
        await pg.ExecuteAsync(db, """
            CREATE SCHEMA "s.1";
            CREATE TABLE "a.b%" (id text PRIMARY KEY, v int);
            CREATE TABLE "s.1".t (id text PRIMARY KEY, v int);
            INSERT INTO "a.b%" VALUES ('k.1', 1);
            INSERT INTO "s.1".t VALUES ('k.1', 2);
            CREATE PUBLICATION "my.pub" FOR TABLE "a.b%", "s.1".t;
            """);
        var store = new ReplicatedStore();
        await using var run = ReplicationRun.Start(pg, db, store, publications: "my.pub");
        await run.WaitForStreamingAsync();
        Assert.Equal("1", Value(store, "my%2Epub.a%2Eb%25.k.1", 1));
        Assert.Equal("2", Value(store, "my%2Epub.s%2E1.t.k.1", 1));
        Assert.Null(Value(store, "my.pub.a.b%.k.1", 1));
    }

    [Fact]
    public async Task A_publication_whose_keys_would_be_ambiguous_is_refused_with_one_clear_line()
    {
        var db = await pg.NewDatabaseAsync();
        await pg.ExecuteAsync(db, """
            CREATE SCHEMA audit;
            CREATE TABLE public.audit (id text PRIMARY KEY);
            CREATE TABLE audit.events (id int PRIMARY KEY);
            INSERT INTO public.audit VALUES ('events.1');
            INSERT INTO audit.events VALUES (1);
            CREATE PUBLICATION pub FOR TABLE public.audit, audit.events;
            """);
        var run = ReplicationRun.Start(pg, db, new ReplicatedStore());   // not disposed: it stops by itself, refusing
        var refused = await Assert.ThrowsAsync<ReplicationSetupException>(() => run.Running.WaitAsync(ReplicationRun.DefaultTimeout));
        Assert.Contains("audit and audit.events", refused.Message);
        Assert.DoesNotContain("\n", refused.Message);
    }

    [Fact]
    public async Task A_random_workload_on_awkward_keys_identical_rows_and_an_identity_index_leaves_the_store_equal_to_the_database()
    {
        var db = await pg.NewDatabaseAsync();
        await pg.ExecuteAsync(db, """
            CREATE TABLE kv (p text, q text, v int, PRIMARY KEY (p, q));
            CREATE TABLE bag (a int, b text, c text);
            ALTER TABLE bag ALTER c SET STORAGE EXTERNAL;
            ALTER TABLE bag REPLICA IDENTITY FULL;
            CREATE TABLE idx (id int PRIMARY KEY, u text NOT NULL, v int);
            CREATE UNIQUE INDEX idx_u ON idx (u);
            ALTER TABLE idx REPLICA IDENTITY USING INDEX idx_u;
            INSERT INTO bag SELECT g % 3, CASE WHEN g % 4 = 0 THEN NULL ELSE 'b' || (g % 2) END, NULL FROM generate_series(1, 30) g;
            INSERT INTO idx SELECT g, 'u' || g, g FROM generate_series(1, 50) g;
            CREATE PUBLICATION pub FOR TABLE kv, bag, idx;
            """);
        var store = new ReplicatedStore();
        await using var run = ReplicationRun.Start(pg, db, store);
        await run.WaitForStreamingAsync();

        var random = new Random(20261203);
        string[] parts = ["'a'", "'a/b'", "'%'", "'%2F'", "''", "'x/y/z'", "'/'", "'%FF'", "'b'"];
        string Part() => parts[random.Next(parts.Length)];
        string Text() => random.Next(5) switch { 0 => "NULL", 1 => "''", 2 => "'b/%'", _ => $"'b{random.Next(2)}'" };
        string Big() => random.Next(3) == 0 ? "repeat('toast', 2000)" : "NULL";
        string OneOf(string table, string where) => $"ctid = (SELECT ctid FROM {table} WHERE {where} LIMIT 1)";
        int nextId = 1000;
        await using var conn = await pg.OpenAsync(db);
        for (int t = 0; t < 200; t++)
        {
            var sql = new StringBuilder("BEGIN;\n");
            for (int op = random.Next(1, 6); op > 0; op--)
            {
                int a = random.Next(3), id = random.Next(1, nextId);
                sql.Append(random.Next(14) switch
                {
                    0 => $"INSERT INTO kv VALUES ({Part()}, {Part()}, {random.Next(100)}) ON CONFLICT DO NOTHING;",
                    1 => $"UPDATE kv SET v = v + 1 WHERE p = {Part()};",
                    2 => $"UPDATE kv SET q = q || '/' WHERE p = {Part()} AND q = {Part()};",
                    3 => $"DELETE FROM kv WHERE q = {Part()};",
                    4 or 5 => $"INSERT INTO bag VALUES ({a}, {Text()}, {Big()});",
                    6 => $"DELETE FROM bag WHERE {OneOf("bag", $"a = {a}")};",
                    7 => $"UPDATE bag SET b = {Text()} WHERE {OneOf("bag", $"a = {a}")};",
                    8 => $"UPDATE bag SET a = {random.Next(3)} WHERE {OneOf("bag", "c IS NOT NULL")};",
                    9 => $"UPDATE bag SET b = 'all' WHERE a = {a} AND b IS NULL;",
                    10 => $"INSERT INTO idx VALUES ({nextId++}, 'n{t}_{op}', {random.Next(100)});",
                    11 => $"UPDATE idx SET id = {nextId++} WHERE id = {id};",
                    12 => $"UPDATE idx SET u = u || 'x', v = {random.Next(100)} WHERE id = {id};",
                    _ => $"DELETE FROM idx WHERE u = 'u{random.Next(1, 60)}';",
                });
                sql.Append('\n');
            }
            if (t == 120) sql.Append("DELETE FROM bag WHERE a = 2;\n");
            sql.Append(random.Next(12) == 0 ? "ROLLBACK;" : "COMMIT;");
            await using var cmd = new NpgsqlCommand(sql.ToString(), conn);
            await cmd.ExecuteNonQueryAsync();
            if (t == 100)
            {
                await run.SyncAsync();
                foreach (var table in new[] { "kv", "bag", "idx" }) await AssertSameRowsAsync(store, db, table);
            }
        }
        await run.SyncAsync();
        foreach (var table in new[] { "kv", "bag", "idx" }) await AssertSameRowsAsync(store, db, table);
    }

    private static StoredTable Table(ReplicatedStore store, string name) => store.Tables.Single(t => t.KeyName == name);

    private static string? Value(ReplicatedStore store, string key, int column)
    {
        if (!store.TryGetRow(Encoding.UTF8.GetBytes(key), out var row)) return null;
        return row.View.IsNull(column) ? "NULL" : Encoding.UTF8.GetString(row.View.Value(column));
    }

    /// <summary>
    /// The table's row keys in paging order, once paging lists every key the table holds (its key order is rebuilt at
    /// most once a second while keys change, see docs/architecture.md): that order is the byte order of the keys.
    /// </summary>
    private static async Task<List<string>> KeysAsync(ReplicatedStore store, string table)
    {
        var t = Table(store, table);
        List<string> Paged()
        {
            using var pin = store.Pin();
            return t.Page([], false, 10_000, pin).Select(r => r.RowKeyString()).ToList();
        }
        List<string> Held()
        {
            using var pin = store.Pin();
            return t.Rows(pin).Select(r => Encoding.UTF8.GetBytes(r.RowKeyString()))
                .Order(Comparer<byte[]>.Create((a, b) => a.AsSpan().SequenceCompareTo(b))).Select(Encoding.UTF8.GetString).ToList();
        }
        await PostgresHarness.WaitUntilAsync(() => Paged().SequenceEqual(Held()), TimeSpan.FromSeconds(30), "paging to list every key");
        return Paged();
    }

    /// <summary>The store's rows of a table equal PostgreSQL's as a multiset, and every row is served under its key.</summary>
    private async Task AssertSameRowsAsync(ReplicatedStore store, string db, string table)
    {
        var t = Table(store, table);
        var schema = t.Schema;
        var columns = string.Join(", ", schema.Columns.Select(c => $"\"{c.Name}\"::text"));
        var expected = new List<string>();
        await using (var conn = await pg.OpenAsync(db))
        await using (var cmd = new NpgsqlCommand($"SELECT {columns} FROM {schema.QualifiedName}", conn))
        await using (var reader = await cmd.ExecuteReaderAsync())
            while (await reader.ReadAsync())
                expected.Add(string.Join("|", Enumerable.Range(0, schema.Columns.Count).Select(i => reader.IsDBNull(i) ? "NULL" : reader.GetString(i))));
        var cached = new List<string>();
        using (var pin = store.Pin())
        {
            foreach (var row in t.Rows(pin))
            {
                cached.Add(Render(row));
                Assert.True(store.TryGetRow(Encoding.UTF8.GetBytes($"pub.{table}.{row.RowKeyString()}"), pin, out var served),
                    $"{table}: key {row.RowKeyString()} not served");
                Assert.Equal(Render(row), Render(served));
            }
        }
        expected.Sort(StringComparer.Ordinal);
        cached.Sort(StringComparer.Ordinal);
        Assert.Equal(expected, cached);
        Assert.Equal(expected.Count, t.RowCount);
    }

    private static string Render(RowRef row) =>
        string.Join("|", Enumerable.Range(0, row.Schema.Columns.Count)
            .Select(i => row.View.State(i) == ColumnState.Value ? Encoding.UTF8.GetString(row.View.Value(i)) : "NULL"));
}
