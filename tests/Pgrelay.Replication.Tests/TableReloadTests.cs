using Npgsql;
using Pgrelay.Core.Changes;
using Pgrelay.Store;
using Pgrelay.Store.Feed;
using Pgrelay.Testing;
using Xunit;

namespace Pgrelay.Replication.Tests;

/// <summary>
/// DDL the stream cannot describe exactly (issue 10 item 4): a relation message names columns but no attribute numbers,
/// and a table rewrite sends no changes at all. Every one of these ends with the store equal to the database.
/// </summary>
public abstract class TableReloadTests(PostgresFixture pg)
{
    public sealed class PG14(Postgres14Fixture pg) : TableReloadTests(pg), IClassFixture<Postgres14Fixture>;
    public sealed class PG15(PostgresFixture pg) : TableReloadTests(pg), IClassFixture<PostgresFixture>;
    public sealed class PG16(Postgres16Fixture pg) : TableReloadTests(pg), IClassFixture<Postgres16Fixture>;
    public sealed class PG17(Postgres17Fixture pg) : TableReloadTests(pg), IClassFixture<Postgres17Fixture>;
    public sealed class PG18(Postgres18Fixture pg) : TableReloadTests(pg), IClassFixture<Postgres18Fixture>;

    private static ReplicationRun Start(PostgresHarness pg, string db, ReplicatedStore store, ListLoggerFactory? log = null) =>
        ReplicationRun.Start(pg, db, store, o => o.PublicationPollInterval = TimeSpan.FromMilliseconds(500), log);

    /// <summary>Waits (hang-guarded) until the store serves a table with exactly these columns, then for everything to settle.</summary>
    private static async Task SettleWithColumnsAsync(ReplicationRun run, ReplicatedStore store, string table, params string[] columns)
    {
        await run.WaitAsync(() => StoreAssertions.Table(store, table)?.Schema.Columns.Select(c => c.Name).SequenceEqual(columns) == true,
            $"{table} to be served with columns ({string.Join(", ", columns)})");
        await run.SettleAsync();
    }

    [Fact]
    public async Task Drop_a_then_add_d_loads_the_table_again_instead_of_shifting_values()
    {
        var db = await pg.NewDatabaseAsync();
        await pg.ExecuteAsync(db, """
            CREATE TABLE t (id int PRIMARY KEY, a text, b text);
            INSERT INTO t SELECT g, 'a' || g, 'b' || g FROM generate_series(1, 200) g;
            CREATE PUBLICATION pub FOR TABLE t;
            """);
        var store = new ReplicatedStore();
        await using var run = Start(pg, db, store);
        await run.WaitForStreamingAsync();

        // Same count and types as before: by position it looks like a rename of a to... nothing, b keeps a's values.
        await pg.ExecuteAsync(db, "ALTER TABLE t DROP COLUMN a; ALTER TABLE t ADD COLUMN d text; UPDATE t SET d = 'd' WHERE id = 7;");
        await SettleWithColumnsAsync(run, store, "t", "id", "b", "d");
        Assert.Equal("b1", StoreAssertions.Rows(store, "t").Single(r => r.Key == "1").Values[1]);
        await StoreAssertions.MatchesAsync(pg, db, store, "t");

        // And the table applies changes again afterwards.
        await pg.ExecuteAsync(db, "UPDATE t SET b = 'changed' WHERE id = 3; DELETE FROM t WHERE id = 4; INSERT INTO t VALUES (500, 'x', 'y');");
        await run.SettleAsync();
        await StoreAssertions.MatchesAsync(pg, db, store, "t");
    }

    [Fact]
    public async Task Type_changes_that_rewrite_the_table_are_loaded_again()
    {
        var db = await pg.NewDatabaseAsync();
        await pg.ExecuteAsync(db, """
            CREATE TABLE m (id int PRIMARY KEY, price numeric, at timestamp);
            INSERT INTO m SELECT g, g / 4.0, timestamp '2024-03-01 10:00' + g * interval '1 hour' FROM generate_series(1, 100) g;
            CREATE PUBLICATION pub FOR TABLE m;
            """);
        var store = new ReplicatedStore();
        await using var run = Start(pg, db, store);
        await run.WaitForStreamingAsync();

        await pg.ExecuteAsync(db, """
            ALTER TABLE m ALTER COLUMN price TYPE numeric(10,2);
            SET TimeZone = 'Europe/Oslo';
            ALTER TABLE m ALTER COLUMN at TYPE timestamptz;
            UPDATE m SET price = 99 WHERE id = 1;
            """);
        await run.WaitAsync(() => StoreAssertions.Table(store, "m")?.Schema.Columns[2].TypeOid == Core.Model.PgTypes.TimestampTz,
            "m to be served as timestamptz");
        await run.SettleAsync();
        var row = StoreAssertions.Rows(store, "m").Single(r => r.Key == "2");
        Assert.Equal("0.50", row.Values[1]);
        Assert.Equal("2024-03-01 11:00:00+00", row.Values[2]);   // 12:00 in Oslo, rendered in UTC
        await StoreAssertions.MatchesAsync(pg, db, store, "m");
    }

    /// <summary>
    /// Values the stream never carries: a volatile default and serial fill existing rows in a rewrite, and VACUUM FULL turns
    /// a constant default's attmissingval into stored values. One table gets a change afterwards (a relation message), the
    /// other none at all (only the publication check sees its new columns).
    /// </summary>
    [Fact]
    public async Task Volatile_defaults_serial_and_rewritten_defaults_are_loaded_not_left_null()
    {
        var db = await pg.NewDatabaseAsync();
        await pg.ExecuteAsync(db, """
            CREATE TABLE busy (id int PRIMARY KEY, v text);
            CREATE TABLE quiet (id int PRIMARY KEY, v text);
            INSERT INTO busy SELECT g, 'v' FROM generate_series(1, 100) g;
            INSERT INTO quiet SELECT g, 'v' FROM generate_series(1, 100) g;
            CREATE PUBLICATION pub FOR TABLE busy, quiet;
            """);
        var store = new ReplicatedStore();
        await using var run = Start(pg, db, store);
        await run.WaitForStreamingAsync();

        foreach (var table in new[] { "busy", "quiet" })
        {
            await pg.ExecuteAsync(db, $"""
                ALTER TABLE {table} ADD COLUMN r float8 DEFAULT random();
                ALTER TABLE {table} ADD COLUMN s serial;
                ALTER TABLE {table} ADD COLUMN e text DEFAULT 'e';
                """);
            await pg.ExecuteAsync(db, $"VACUUM FULL {table}");
        }
        await pg.ExecuteAsync(db, "INSERT INTO busy (id, v) VALUES (1000, 'new')");
        foreach (var table in new[] { "busy", "quiet" })
            await SettleWithColumnsAsync(run, store, table, "id", "v", "r", "s", "e");
        foreach (var table in new[] { "busy", "quiet" })
        {
            Assert.All(StoreAssertions.Rows(store, table), r => Assert.True(r.Values.All(v => v is not null), $"{table} row {r.Key} has a NULL"));
            await StoreAssertions.MatchesAsync(pg, db, store, table);
        }
    }

    /// <summary>Under REPLICA IDENTITY FULL the stream does not say that the primary key was dropped (every column is
    /// flagged either way); the publication check sees it, and the table is loaded again, keyed by all its columns.</summary>
    [Fact]
    public async Task A_primary_key_dropped_under_identity_full_is_seen_and_the_table_keyed_again()
    {
        var db = await pg.NewDatabaseAsync();
        await pg.ExecuteAsync(db, """
            CREATE TABLE k (id int PRIMARY KEY, v text);
            ALTER TABLE k REPLICA IDENTITY FULL;
            INSERT INTO k SELECT g, 'v' || g FROM generate_series(1, 20) g;
            CREATE PUBLICATION pub FOR TABLE k;
            """);
        var store = new ReplicatedStore();
        await using var run = Start(pg, db, store);
        await run.WaitForStreamingAsync();
        await pg.ExecuteAsync(db, "ALTER TABLE k DROP CONSTRAINT k_pkey; INSERT INTO k VALUES (1, 'same id'), (2, 'v2');");
        await run.WaitAsync(() => StoreAssertions.Table(store, "k")?.Schema.HasPrimaryKey == false, "k to be keyed by all its columns");
        await run.SettleAsync();
        Assert.Equal(22, StoreAssertions.Table(store, "k")!.RowCount);
        await pg.ExecuteAsync(db, "DELETE FROM k WHERE v = 'same id'; UPDATE k SET v = 'x' WHERE id = 3;");
        await run.SettleAsync();
        Assert.Equal(21, StoreAssertions.Table(store, "k")!.RowCount);
    }

    /// <summary>A change of the table's columns committed while its load is copying: the copy is stale and the load starts
    /// over, or the change comes after the swap and loads it again; either way the result is exact.</summary>
    [Fact]
    public async Task Ddl_during_a_load_ends_exact()
    {
        var db = await pg.NewDatabaseAsync();
        await pg.ExecuteAsync(db, """
            CREATE TABLE w (id int PRIMARY KEY, v text, pad text);
            INSERT INTO w SELECT g, 'v' || g, repeat('x', 200) FROM generate_series(1, 100000) g;
            CREATE PUBLICATION pub FOR TABLE w;
            """);
        var store = new ReplicatedStore();
        var log = new ListLoggerFactory();
        await using var run = Start(pg, db, store, log);
        await run.WaitForStreamingAsync();

        await pg.ExecuteAsync(db, "ALTER TABLE w ADD COLUMN c1 int DEFAULT 1; UPDATE w SET v = 'first' WHERE id = 1;");
        await run.WaitAsync(() => run.Status.Reloads.Any(r => r.Phase == "copying" || r.RowsCopied > 0), "w's load to copy");
        // Waits for the copy's lock, so it commits after the copy's snapshot: before its marker (a stale copy) or after it.
        await pg.ExecuteAsync(db, "ALTER TABLE w ADD COLUMN c2 text DEFAULT 'two'; UPDATE w SET v = 'second' WHERE id = 2;");
        await SettleWithColumnsAsync(run, store, "w", "id", "v", "pad", "c1", "c2");
        await StoreAssertions.MatchesAsync(pg, db, store, "w");
        Assert.True(log.Contains("loading table public.w again") || log.Lines.Count(l => l.Contains("loaded beside the stream")) >= 2,
            "the second DDL neither restarted the load nor loaded the table again");
    }
}
