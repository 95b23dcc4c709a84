using Pgrelay.Core.Changes;
using Pgrelay.Testing;
using Xunit;

namespace Pgrelay.Replication.Tests;

/// <summary>TOAST, TRUNCATE and ALTER TABLE while streaming.</summary>
public abstract class ChangeShapeTests(PostgresFixture pg)
{
    public sealed class PG14(Postgres14Fixture pg) : ChangeShapeTests(pg), IClassFixture<Postgres14Fixture>;
    public sealed class PG15(PostgresFixture pg) : ChangeShapeTests(pg), IClassFixture<PostgresFixture>;
    public sealed class PG16(Postgres16Fixture pg) : ChangeShapeTests(pg), IClassFixture<Postgres16Fixture>;
    public sealed class PG17(Postgres17Fixture pg) : ChangeShapeTests(pg), IClassFixture<Postgres17Fixture>;
    public sealed class PG18(Postgres18Fixture pg) : ChangeShapeTests(pg), IClassFixture<Postgres18Fixture>;

    [Fact]
    public async Task Unchanged_toasted_value_is_kept_when_another_column_is_updated()
    {
        var db = await pg.NewDatabaseAsync();
        await pg.ExecuteAsync(db, """
            CREATE TABLE docs (id int PRIMARY KEY, title text, body text);
            ALTER TABLE docs ALTER COLUMN body SET STORAGE EXTERNAL;
            CREATE PUBLICATION pub FOR TABLE docs;
            """);
        var target = new RecordingTarget();
        await using var run = ReplicationRun.Start(pg, db, target);
        await run.WaitForStreamingAsync();
        // Random text does not compress, and EXTERNAL storage forces it out of line.
        await pg.ExecuteAsync(db, """
            INSERT INTO docs SELECT g, 'doc ' || g, (SELECT string_agg(md5(random()::text), '') FROM generate_series(1, 400)) FROM generate_series(1, 3) g;
            UPDATE docs SET title = 'renamed' WHERE id = 2;
            """);
        await run.SyncAsync();
        var (_, rows) = target.Snapshot("docs");
        Assert.True(rows["2"][2]!.Length > 8000);
        Assert.Equal("renamed", rows["2"][1]);
        await Assertions.TableMatchesAsync(pg, run, "docs");
    }

    [Fact]
    public async Task Truncate_empties_the_table_and_later_inserts_arrive()
    {
        var db = await pg.NewDatabaseAsync();
        await pg.ExecuteAsync(db, """
            CREATE TABLE a (id int PRIMARY KEY, v text);
            CREATE TABLE b (id int PRIMARY KEY);
            INSERT INTO a SELECT g, 'x' FROM generate_series(1, 100) g;
            INSERT INTO b SELECT g FROM generate_series(1, 10) g;
            CREATE PUBLICATION pub FOR TABLE a, b;
            """);
        var target = new RecordingTarget();
        await using var run = ReplicationRun.Start(pg, db, target);
        await run.WaitForStreamingAsync();
        await pg.ExecuteAsync(db, "TRUNCATE a, b; INSERT INTO a VALUES (5, 'after');");
        await run.SyncAsync();
        Assert.Contains(target.Transactions, t => t.Kinds.Count(k => k == ChangeKind.Truncate) == 2);
        Assert.Empty(target.Snapshot("b").Rows);
        await Assertions.TableMatchesAsync(pg, run, "a");
    }

    [Fact]
    public async Task Alter_table_add_drop_rename_columns_without_restart()
    {
        var db = await pg.NewDatabaseAsync();
        await pg.ExecuteAsync(db, """
            CREATE TABLE t (id int PRIMARY KEY, a text, b int);
            INSERT INTO t SELECT g, 'a' || g, g FROM generate_series(1, 50) g;
            CREATE PUBLICATION pub FOR TABLE t;
            """);
        var target = new RecordingTarget();
        await using var run = ReplicationRun.Start(pg, db, target);
        await run.WaitForStreamingAsync();

        // Constant default: existing rows get 42 from attmissingval, without a table rewrite; the table is loaded again.
        await pg.ExecuteAsync(db, "ALTER TABLE t ADD COLUMN c int DEFAULT 42; INSERT INTO t (id, a, b) VALUES (100, 'new', 1);");
        await run.SettleAsync();
        var (schema, rows) = target.Snapshot("t");
        Assert.Equal(["id", "a", "b", "c"], schema.Columns.Select(c => c.Name));
        Assert.Equal("42", rows["1"][3]);
        await Assertions.TableMatchesAsync(pg, run, "t");

        await pg.ExecuteAsync(db, "ALTER TABLE t ADD COLUMN d text; UPDATE t SET d = 'dd' WHERE id = 3;");
        await pg.ExecuteAsync(db, "ALTER TABLE t DROP COLUMN b; UPDATE t SET a = 'changed' WHERE id = 4;");
        await pg.ExecuteAsync(db, "ALTER TABLE t RENAME COLUMN a TO alpha; UPDATE t SET alpha = 'again' WHERE id = 5;");
        await run.SettleAsync();
        (schema, _) = target.Snapshot("t");
        Assert.Equal(["id", "alpha", "c", "d"], schema.Columns.Select(c => c.Name));
        Assert.Contains(target.Transactions, t => t.Kinds.Contains(ChangeKind.Relation));
        Assert.Contains("t", target.Loaded);
        await Assertions.TableMatchesAsync(pg, run, "t");
    }

    [Fact]
    public async Task Tables_without_primary_key_are_keyed_by_all_columns_whatever_their_identity()
    {
        var db = await pg.NewDatabaseAsync();
        await pg.ExecuteAsync(db, """
            CREATE TABLE nokey (v int);
            CREATE TABLE full_t (a int, b text);
            ALTER TABLE full_t REPLICA IDENTITY FULL;
            INSERT INTO full_t VALUES (1, 'x'), (2, 'y');
            INSERT INTO nokey VALUES (1);
            CREATE PUBLICATION pub FOR TABLE nokey, full_t;
            """);
        var target = new RecordingTarget();
        await using var run = ReplicationRun.Start(pg, db, target);
        await run.WaitForStreamingAsync();
        await pg.ExecuteAsync(db, "INSERT INTO full_t VALUES (3, 'z'); DELETE FROM full_t WHERE a = 1; INSERT INTO nokey VALUES (2);");
        await run.SyncAsync();
        var (schema, rows) = target.Snapshot("full_t");
        Assert.Equal(2, schema.KeyColumns.Length);
        Assert.False(schema.HasPrimaryKey);
        Assert.Equal(["2/y", "3/z"], rows.Keys.Order());
        // Identity DEFAULT without a primary key: PostgreSQL refuses its updates and deletes, inserts still come.
        var (nokey, inserted) = target.Snapshot("nokey");
        Assert.False(nokey.HasPrimaryKey);
        Assert.Equal(["1", "2"], inserted.Keys.Order());
    }
}
