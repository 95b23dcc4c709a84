using Pgrelay.Sinks.Configuration;

namespace Pgrelay.Sinks.Tests;

public abstract class PostgresSinkTests(PostgresFixture pg) : IDisposable
{
    public sealed class PG14(Postgres14Fixture pg) : PostgresSinkTests(pg), IClassFixture<Postgres14Fixture>;
    public sealed class PG15(PostgresFixture pg) : PostgresSinkTests(pg), IClassFixture<PostgresFixture>;
    public sealed class PG16(Postgres16Fixture pg) : PostgresSinkTests(pg), IClassFixture<Postgres16Fixture>;
    public sealed class PG17(Postgres17Fixture pg) : PostgresSinkTests(pg), IClassFixture<Postgres17Fixture>;
    public sealed class PG18(Postgres18Fixture pg) : PostgresSinkTests(pg), IClassFixture<Postgres18Fixture>;

    private readonly string _state = Directory.CreateTempSubdirectory("pgrelay-sink-state").FullName;

    private const string Schema = """
        CREATE TABLE accounts (id int PRIMARY KEY, name text, balance numeric(12,2), tags text[], data jsonb, photo bytea,
                               seen timestamptz, active bool, uid uuid, notes text);
        ALTER TABLE accounts ALTER notes SET STORAGE EXTERNAL;
        CREATE SCHEMA geo;
        CREATE TABLE geo."Cities" ("Name" text, state text, population int, PRIMARY KEY (state, "Name"));
        CREATE TABLE sync_marker (id int PRIMARY KEY);
        CREATE PUBLICATION pub FOR TABLE accounts, geo."Cities", sync_marker;
        INSERT INTO accounts SELECT i, 'user ' || i, i * 1.5, ARRAY['a', 'b"c'], jsonb_build_object('i', i), '\xdeadbeef', '2026-01-01 10:00:00+00',
                                    i % 2 = 0, md5(i::text)::uuid, repeat('toast', 3000) FROM generate_series(1, 500) i;
        INSERT INTO geo."Cities" VALUES ('Tulsa', 'OK', 413066), ('Oslo', 'NO', 709037), ('Bergen', 'NO', 291940);
        """;

    private const string Changes = """
        INSERT INTO accounts SELECT i, 'user ' || i, i, NULL, NULL, NULL, NULL, NULL, NULL, NULL FROM generate_series(501, 3500) i;
        UPDATE accounts SET balance = balance + 1 WHERE id <= 100;                -- notes (TOAST) unchanged
        UPDATE accounts SET balance = balance + 1 WHERE id <= 10;                 -- the same rows again, same transaction batch
        UPDATE accounts SET id = id + 10000 WHERE id BETWEEN 200 AND 210;         -- key changes
        DELETE FROM accounts WHERE id BETWEEN 300 AND 320;
        UPDATE geo."Cities" SET "Name" = 'Tulsa City' WHERE "Name" = 'Tulsa';
        BEGIN; DELETE FROM accounts WHERE id = 400; INSERT INTO accounts (id, name) VALUES (400, 'reborn'); COMMIT;
        TRUNCATE geo."Cities";
        INSERT INTO geo."Cities" VALUES ('Stavanger', 'NO', 144699);
        """;

    private async Task AssertTargetEqualsSource(string source, string target)
    {
        Assert.Equal(await pg.RowsAsync(source, "accounts", "id"), await pg.RowsAsync(target, "public.accounts", "id"));
        Assert.Equal(await pg.RowsAsync(source, "geo.\"Cities\"", "state, \"Name\""), await pg.RowsAsync(target, "geo.\"Cities\"", "state, \"Name\""));
    }

    [Fact]
    public async Task Target_tables_are_created_loaded_and_kept_equal_across_a_restart()
    {
        var source = await pg.NewDatabaseAsync("src");
        var target = await pg.NewDatabaseAsync("dst");
        await pg.ExecuteAsync(source, Schema);
        var flag = $"postgres:{pg.Cluster.UrlFor(target)}";

        await using (var rig = SinkRig.Start(pg, source, SinkSettingsParser.Parse([flag], null, _state)))
        {
            await rig.SyncAsync();
            await AssertTargetEqualsSource(source, target);
            Assert.InRange(rig.Sinks.Runners[0].Status.RowsLoaded, 503, 504);   // the first sync marker may be in the snapshot
            await pg.ExecuteAsync(source, Changes);
            await rig.SyncAsync();
            await AssertTargetEqualsSource(source, target);
        }

        // While pgrelay is down the source moves on; the kept slot holds the changes and the sink resumes from its checkpoint.
        await pg.ExecuteAsync(source, """
            UPDATE accounts SET name = name || '!' WHERE id % 7 = 0;
            DELETE FROM accounts WHERE id > 3000;
            INSERT INTO geo."Cities" VALUES ('Trondheim', 'NO', 212660);
            """);
        await using (var rig = SinkRig.Start(pg, source, SinkSettingsParser.Parse([flag], null, _state)))
        {
            await rig.SyncAsync();
            await AssertTargetEqualsSource(source, target);
            Assert.True(rig.Sinks.Runners[0].Status.RowsLoaded == 0, string.Join("\n", rig.Log.Lines));   // resumed: no reload
            Assert.True(rig.Sinks.Runners[0].Status.EventsDelivered > 0);
            Assert.True(rig.Store.SafeToConfirmLsn <= rig.Sinks.Runners[0].Status.CheckpointLsn);
        }
        var checkpoint = await pg.ScalarAsync<string>(target, "SELECT end_lsn::text FROM pgrelay.sink_checkpoints WHERE sink = 'postgres'");
        // The target's own checkpoint (committed with each batch) is never ahead of the file; the file may be further on,
        // having followed an idle slot.
        var inTarget = Core.Model.Lsn.Parse(checkpoint);
        Assert.True(inTarget > Core.Model.Lsn.Zero && inTarget <= new Sinks.Delivery.CheckpointStore(_state).Load("postgres")!.Value.EndLsn);
    }

    [Fact]
    public async Task Rules_route_filter_and_mask_into_the_target()
    {
        var source = await pg.NewDatabaseAsync("src");
        var target = await pg.NewDatabaseAsync("dst");
        await pg.ExecuteAsync(source, Schema);
        var config = Path.Combine(_state, "pgrelay.json");
        File.WriteAllText(config, $$"""
            {
              "sinks": { "copy": { "type": "postgres", "url": "{{pg.Cluster.UrlFor(target)}}", "schema": "mirror" } },
              "rules": [
                { "table": "accounts", "filter": [ { "column": "active", "op": "eq", "value": true } ],
                  "transform": [ { "column": "name", "type": "mask", "keep-first": 2 }, { "column": "notes", "type": "drop" } ],
                  "route": { "table": "active_accounts", "columns": { "balance": "amount" } } },
                { "table": "geo.*", "ops": ["c", "r"] }
              ]
            }
            """);
        await using var rig = SinkRig.Start(pg, source, SinkSettingsParser.Parse(null, config, _state));
        await rig.SyncAsync();
        await pg.ExecuteAsync(source, "INSERT INTO accounts (id, name, active) VALUES (9001, 'Zelda', true), (9002, 'Yann', false)");
        await rig.SyncAsync();
        Assert.Equal(251L, await pg.ScalarAsync<long>(target, "SELECT count(*) FROM mirror.active_accounts"));
        Assert.Equal("Ze***", await pg.ScalarAsync<string>(target, "SELECT name FROM mirror.active_accounts WHERE id = 9001"));
        Assert.Equal(3.00m, await pg.ScalarAsync<decimal>(target, "SELECT amount FROM mirror.active_accounts WHERE id = 2"));
        Assert.Equal(0L, await pg.ScalarAsync<long>(target,
            "SELECT count(*) FROM information_schema.columns WHERE table_name = 'active_accounts' AND column_name = 'notes'"));
        Assert.Equal(3L, await pg.ScalarAsync<long>(target, "SELECT count(*) FROM mirror.\"Cities\""));
    }

    [Fact]
    public async Task A_load_of_two_tables_routed_into_one_with_the_same_keys_upserts_instead_of_failing_its_copy()
    {
        // The load COPYs into the table it truncated; the second table's rows find their keys there already, so that COPY
        // rolls back to its savepoint and the rows are upserted: the later table wins, as it would when streaming.
        var source = await pg.NewDatabaseAsync("src");
        var target = await pg.NewDatabaseAsync("dst");
        await pg.ExecuteAsync(source, """
            CREATE TABLE a (id int PRIMARY KEY, v text);
            CREATE TABLE b (id int PRIMARY KEY, v text);
            CREATE TABLE sync_marker (id int PRIMARY KEY);
            CREATE PUBLICATION pub FOR TABLE a, b, sync_marker;
            INSERT INTO a SELECT i, 'a\' || i || E'\t\n' FROM generate_series(1, 300) i;
            INSERT INTO b SELECT i, 'b' || i FROM generate_series(200, 400) i;
            """);
        var config = Path.Combine(_state, "merge.json");
        File.WriteAllText(config, $$"""
            {
              "sinks": { "merge": { "type": "postgres", "url": "{{pg.Cluster.UrlFor(target)}}" } },
              "rules": [ { "table": "a", "route": { "table": "ab" } }, { "table": "b", "route": { "table": "ab" } } ]
            }
            """);
        await using var rig = SinkRig.Start(pg, source, SinkSettingsParser.Parse(null, config, _state));
        await rig.SyncAsync();
        var expected = await pg.RowsAsync(source, "(SELECT * FROM a WHERE id < 200 UNION ALL SELECT * FROM b)", "id");
        var rowsOfA = await pg.RowsAsync(source, "(SELECT * FROM a WHERE id < 200)", "id");
        var actual = await pg.RowsAsync(target, "public.ab", "id");
        // Which table the load reads first is not fixed: the overlap (200-300) holds the later one's rows.
        var otherWay = await pg.RowsAsync(source, "(SELECT * FROM a UNION ALL SELECT * FROM b WHERE id > 300)", "id");
        Assert.True(actual.SequenceEqual(expected) || actual.SequenceEqual(otherWay), string.Join("\n", actual.Take(5)));
        Assert.Equal(400, actual.Count);
        Assert.Contains(rowsOfA[0], actual);   // escapes survived COPY: backslash, tab, newline
    }

    [Fact]
    public async Task A_table_without_a_primary_key_is_a_multiset_in_the_target_with_its_nulls_and_duplicates()
    {
        // REPLICA IDENTITY FULL, no primary key: the target must keep rows with NULLs (which a primary key of every
        // column refused) and duplicates (which it collapsed), and an update or delete touches exactly one equal row.
        var source = await pg.NewDatabaseAsync("src");
        var target = await pg.NewDatabaseAsync("dst");
        await pg.ExecuteAsync(source, """
            CREATE TABLE bag (a int, b text, c jsonb, p point);
            ALTER TABLE bag REPLICA IDENTITY FULL;
            CREATE TABLE sync_marker (id int PRIMARY KEY);
            CREATE PUBLICATION pub FOR TABLE bag, sync_marker;
            INSERT INTO bag VALUES (1, NULL, NULL, NULL), (2, 'x', '{"k": 1}', '(1,2)'), (NULL, NULL, NULL, NULL), (NULL, 'tab\there', '[]', NULL);
            """);
        string flag = $"postgres:{pg.Cluster.UrlFor(target)}";
        const string order = "a NULLS FIRST, b NULLS FIRST, c::text NULLS FIRST, p::text NULLS FIRST";
        async Task AssertEqual() => Assert.Equal(await pg.RowsAsync(source, "bag", order), await pg.RowsAsync(target, "public.bag", order));

        await using (var rig = SinkRig.Start(pg, source, SinkSettingsParser.Parse([flag], null, _state)))
        {
            await rig.SyncAsync();
            await AssertEqual();   // the initial load's COPY keeps the NULL rows
            await pg.ExecuteAsync(source, """
                INSERT INTO bag VALUES (3, 'dup', '[1]', '(0,0)'), (3, 'dup', '[1]', '(0,0)'), (3, 'dup', '[1]', '(0,0)');
                INSERT INTO bag VALUES (NULL, 'n', NULL, NULL);
                DELETE FROM bag WHERE ctid = (SELECT ctid FROM bag WHERE a = 3 LIMIT 1);
                UPDATE bag SET c = '{"z": 2}' WHERE a IS NULL AND b = 'n';
                UPDATE bag SET b = 'was null' WHERE a = 1;
                DELETE FROM bag WHERE a = 2;
                """);
            await rig.SyncAsync();
            await AssertEqual();
            Assert.Equal(2L, await pg.ScalarAsync<long>(target, "SELECT count(*) FROM bag WHERE a = 3"));
            // DDL reloads the table: every row of the new shape is a new key (inserts), every old one a delete in its old shape.
            await pg.ExecuteAsync(source, "ALTER TABLE bag ADD COLUMN e text DEFAULT 'e'; DELETE FROM bag WHERE a = 1");
            await rig.SyncAsync();
            await AssertEqual();
            // (with a change: a DROP alone is seen only by the publication poll, later)
            await pg.ExecuteAsync(source, "ALTER TABLE bag DROP COLUMN e; INSERT INTO bag VALUES (9, 'z', NULL, NULL)");
            await rig.SyncAsync();
            await AssertEqual();
            Assert.Equal(0L, await pg.ScalarAsync<long>(target,
                "SELECT count(*) FROM pg_index WHERE indrelid = 'public.bag'::regclass AND indisprimary"));
        }
        // Replayed after a restart: FULL identity sends whole old rows, so replay is as exact.
        await pg.ExecuteAsync(source, """
            INSERT INTO bag VALUES (4, NULL, NULL, NULL), (4, NULL, NULL, NULL);
            DELETE FROM bag WHERE ctid = (SELECT ctid FROM bag WHERE a = 4 LIMIT 1);
            UPDATE bag SET a = 5 WHERE b = 'was null';
            """);
        await using (var rig = SinkRig.Start(pg, source, SinkSettingsParser.Parse([flag], null, _state)))
        {
            await rig.SyncAsync();
            Assert.Equal(0, rig.Sinks.Runners[0].Status.RowsLoaded);
            await AssertEqual();
        }
    }

    [Fact]
    public async Task A_multiset_load_the_target_refuses_to_copy_fails_visibly_instead_of_collapsing_identical_rows()
    {
        // The target's own unique index makes the load's COPY fail; the upsert it fell back to keyed the rows by their
        // values (no copy number): two identical rows became one, and rows with a NULL none, while the sink said
        // streaming. A multiset cannot be upserted: the rows are inserted, and what the target refuses is a failure.
        var source = await pg.NewDatabaseAsync("src");
        var target = await pg.NewDatabaseAsync("dst");
        await pg.ExecuteAsync(source, """
            CREATE TABLE bag (a int, b text);
            ALTER TABLE bag REPLICA IDENTITY FULL;
            CREATE TABLE sync_marker (id int PRIMARY KEY);
            CREATE PUBLICATION pub FOR TABLE bag, sync_marker;
            INSERT INTO bag VALUES (1, 'same'), (1, 'same'), (2, NULL), (2, NULL), (3, 'one');
            """);
        await pg.ExecuteAsync(target, "CREATE TABLE bag (a int, b text, UNIQUE (a, b))");
        await using var rig = SinkRig.Start(pg, source, SinkSettingsParser.Parse([$"postgres:{pg.Cluster.UrlFor(target)}"], null, _state));
        var status = rig.Sinks.Runners[0].Status;
        await rig.Replication.WaitAsync(() => status.PermanentFailures >= 1 || status.State == Delivery.SinkState.Streaming, "the load to end or fail");
        Assert.True(status.PermanentFailures >= 1, $"the sink went on ({status.State}) with {await pg.ScalarAsync<long>(target, "SELECT count(*) FROM bag")} of 5 rows");
        Assert.Contains("23505", status.LastError);

        await pg.ExecuteAsync(target, "ALTER TABLE bag DROP CONSTRAINT bag_a_b_key");
        await rig.SyncAsync();
        const string order = "a NULLS FIRST, b NULLS FIRST";
        Assert.Equal(await pg.RowsAsync(source, "bag", order), await pg.RowsAsync(target, "public.bag", order));
    }

    [Fact]
    public async Task Alter_table_is_mirrored_onto_the_target_added_defaults_types_drops_and_renames()
    {
        var source = await pg.NewDatabaseAsync("src");
        var target = await pg.NewDatabaseAsync("dst");
        await pg.ExecuteAsync(source, """
            CREATE TABLE t (id int PRIMARY KEY, c int, d text, note text);
            CREATE TABLE sync_marker (id int PRIMARY KEY);
            CREATE PUBLICATION pub FOR TABLE t, sync_marker;
            INSERT INTO t SELECT i, i, 'd' || i, NULL FROM generate_series(1, 30) i;
            """);
        string flag = $"postgres:{pg.Cluster.UrlFor(target)}";
        async Task AssertEqual(string step) =>
            Assert.True((await pg.RowsAsync(source, "t", "id")).SequenceEqual(await pg.RowsAsync(target, "public.t", "id")),
                $"{step}: {string.Join(" ", (await pg.RowsAsync(target, "public.t", "id")).Take(3))}");

        await using (var rig = SinkRig.Start(pg, source, SinkSettingsParser.Parse([flag], null, _state)))
        {
            await rig.SyncAsync();
            string[] steps =
            [
                "ALTER TABLE t ADD COLUMN e text DEFAULT 'e''s default'; INSERT INTO t (id, c) VALUES (100, 100)",   // existing rows have e
                "ALTER TABLE t ALTER COLUMN c TYPE text; UPDATE t SET c = 'abc' WHERE id = 1",                          // was 22P02 forever
                "ALTER TABLE t DROP COLUMN d; UPDATE t SET c = 'x' WHERE id = 2; DELETE FROM t WHERE id IN (20, 21)",   // the reload deletes in the old shape
                "ALTER TABLE t RENAME COLUMN e TO f; UPDATE t SET f = 'renamed' WHERE id = 3",
                "ALTER TABLE t ADD COLUMN n numeric; UPDATE t SET n = 1.555 WHERE id = 4; ALTER TABLE t ALTER COLUMN n TYPE numeric(10,2); UPDATE t SET c = 'y' WHERE id = 5",
            ];
            foreach (var step in steps)
            {
                await pg.ExecuteAsync(source, step);
                await rig.SyncAsync();
                await AssertEqual(step);
            }
            Assert.Equal(0, rig.Sinks.Runners[0].Status.Failures);
            await ConfirmEverythingAsync(rig);
        }
        // While pgrelay is down: the slot is confirmed past every change to t, so the replayed stream has no relation
        // change (nothing in it changed t before the ALTER); the target must still learn the column, the value existing
        // rows have in it, and a new type.
        string[] whileDown =
        [
            "ALTER TABLE t ADD COLUMN g int DEFAULT 7; UPDATE t SET c = 'z' WHERE id = 6",
            "ALTER TABLE t ALTER COLUMN n TYPE text; UPDATE t SET n = 'n/a' WHERE id = 8",
        ];
        foreach (var step in whileDown)
        {
            await pg.ExecuteAsync(source, step);
            await using var rig = SinkRig.Start(pg, source, SinkSettingsParser.Parse([flag], null, _state));
            await rig.SyncAsync();
            Assert.Equal(0, rig.Sinks.Runners[0].Status.RowsLoaded);
            await AssertEqual("while down: " + step);
            await ConfirmEverythingAsync(rig);
        }
    }

    /// <summary>Waits until the slot is confirmed past everything applied: a restart then replays nothing before this point.</summary>
    private static async Task ConfirmEverythingAsync(SinkRig rig)
    {
        await rig.SyncAsync();
        var applied = rig.Store.AppliedEndLsn;
        await rig.Replication.WaitAsync(() => rig.Replication.Status.ConfirmedLsn >= applied, "the slot to be confirmed");
    }

    [Fact]
    public async Task A_permanent_target_error_shows_as_failed_holds_the_checkpoint_and_recovers_once_the_target_is_fixed()
    {
        var source = await pg.NewDatabaseAsync("src");
        var target = await pg.NewDatabaseAsync("dst");
        await pg.ExecuteAsync(source, """
            CREATE TABLE t (id int PRIMARY KEY, v text);
            CREATE TABLE sync_marker (id int PRIMARY KEY);
            CREATE PUBLICATION pub FOR TABLE t, sync_marker;
            INSERT INTO t VALUES (1, 'short');
            """);
        // The target's own constraint refuses what the source accepts: no retry can cure that (SQLSTATE 23514).
        await pg.ExecuteAsync(target, "CREATE TABLE t (id int PRIMARY KEY, v text CHECK (length(v) < 10))");
        await using var rig = SinkRig.Start(pg, source, SinkSettingsParser.Parse([$"postgres:{pg.Cluster.UrlFor(target)}"], null, _state));
        await rig.SyncAsync();
        var status = rig.Sinks.Runners[0].Status;
        await pg.ExecuteAsync(source, "UPDATE t SET v = 'much too long for the target' WHERE id = 1");
        await rig.Replication.WaitAsync(() => status.PermanentFailures >= 2, "the sink to fail permanently");
        Assert.Equal(Delivery.SinkState.Failed, status.State);
        Assert.True(status.LastErrorPermanent);
        Assert.Contains("23514", status.LastError);
        Assert.True(rig.Store.SafeToConfirmLsn <= status.CheckpointLsn, "the slot moved past what the sink delivered");
        Assert.True(status.CheckpointLsn < rig.Store.AppliedEndLsn);

        await pg.ExecuteAsync(target, "ALTER TABLE t DROP CONSTRAINT t_v_check");
        await rig.SyncAsync();
        Assert.Equal(await pg.RowsAsync(source, "t", "id"), await pg.RowsAsync(target, "public.t", "id"));
        Assert.Equal(Delivery.SinkState.Streaming, status.State);
    }

    public void Dispose() => Directory.Delete(_state, recursive: true);
}
