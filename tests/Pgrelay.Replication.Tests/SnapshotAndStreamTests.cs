using Pgrelay.Core.Changes;
using Pgrelay.Testing;
using Xunit;

namespace Pgrelay.Replication.Tests;

public abstract class SnapshotAndStreamTests(PostgresFixture pg)
{
    public sealed class PG14(Postgres14Fixture pg) : SnapshotAndStreamTests(pg), IClassFixture<Postgres14Fixture>;
    public sealed class PG15(PostgresFixture pg) : SnapshotAndStreamTests(pg), IClassFixture<PostgresFixture>;
    public sealed class PG16(Postgres16Fixture pg) : SnapshotAndStreamTests(pg), IClassFixture<Postgres16Fixture>;
    public sealed class PG17(Postgres17Fixture pg) : SnapshotAndStreamTests(pg), IClassFixture<Postgres17Fixture>;
    public sealed class PG18(Postgres18Fixture pg) : SnapshotAndStreamTests(pg), IClassFixture<Postgres18Fixture>;

    [Fact]
    public async Task Snapshot_then_stream_has_no_gap_and_no_duplicate_under_concurrent_writes()
    {
        var db = await pg.NewDatabaseAsync();
        await pg.ExecuteAsync(db, """
            CREATE TABLE items (id int PRIMARY KEY, name text, price numeric(10,2), seen timestamptz, tags text[], data jsonb, blob bytea, f float8);
            INSERT INTO items SELECT g, 'item ' || g || E'\ttab\nline\\back', g * 1.5, '2024-01-01'::timestamptz + g * interval '1 minute',
                   ARRAY['a', 'b c', NULL], jsonb_build_object('n', g), decode(md5(g::text), 'hex'), g / 3.0
            FROM generate_series(1, 60000) g;
            CREATE PUBLICATION pub FOR TABLE items;
            """);
        var target = new RecordingTarget();
        // Small ranges so the copy runs as many ranges over parallel connections.
        await using var run = ReplicationRun.Start(pg, db, target, o => { o.CopyRangePages = 64; o.CopyParallelism = 3; });

        // Write while the snapshot is being taken and copied.
        using var writing = new CancellationTokenSource();
        var writer = Task.Run(async () =>
        {
            int next = 100000;
            await using var conn = await pg.OpenAsync(db);
            while (!writing.IsCancellationRequested)
            {
                await using var cmd = new Npgsql.NpgsqlCommand($"""
                    INSERT INTO items (id, name) VALUES ({next}, 'new');
                    UPDATE items SET name = 'upd ' || {next} WHERE id = {next % 60000 + 1};
                    DELETE FROM items WHERE id = {(next * 7) % 60000 + 1};
                    """, conn);
                await cmd.ExecuteNonQueryAsync();
                next++;
            }
        });
        await run.WaitForStreamingAsync();
        await Task.Delay(300); // keep writing a little into the streaming phase
        writing.Cancel();
        await writer;
        await run.SyncAsync();

        Assert.True(run.Status.SnapshotRowsCopied > 0);
        Assert.Equal(1, run.Status.SnapshotTablesDone);
        await Assertions.TableMatchesAsync(pg, run, "items");
    }

    [Fact]
    public async Task Composite_keys_identify_rows_and_key_updates_move_them()
    {
        var db = await pg.NewDatabaseAsync();
        await pg.ExecuteAsync(db, """
            CREATE TABLE cities (name text, state char(2), population int, PRIMARY KEY (name, state));
            INSERT INTO cities VALUES ('Tulsa', 'OK', 400000), ('Portland', 'OR', 650000), ('Portland', 'ME', 68000);
            CREATE PUBLICATION pub FOR TABLE cities;
            """);
        var target = new RecordingTarget();
        await using var run = ReplicationRun.Start(pg, db, target);
        await run.WaitForStreamingAsync();
        await pg.ExecuteAsync(db, """
            UPDATE cities SET population = 70000 WHERE name = 'Portland' AND state = 'ME';
            UPDATE cities SET state = 'XX' WHERE name = 'Tulsa';
            INSERT INTO cities VALUES ('Salem', 'OR', 175000);
            DELETE FROM cities WHERE name = 'Portland' AND state = 'OR';
            """);
        await run.SyncAsync();
        var (schema, rows) = target.Snapshot("cities");
        Assert.Equal(["name", "state"], schema.KeyColumns.Select(k => schema.Columns[k].Name));
        Assert.Equal(["Portland/ME", "Salem/OR", "Tulsa/XX"], rows.Keys.Order());
        Assert.Equal("70000", rows["Portland/ME"][2]);
        await Assertions.TableMatchesAsync(pg, run, "cities");
    }

    [Fact]
    public async Task Composite_keys_join_in_primary_key_order_not_column_order()
    {
        var db = await pg.NewDatabaseAsync();
        await pg.ExecuteAsync(db, """
            CREATE TABLE towns (state char(2), population int, name text, PRIMARY KEY (name, state));
            INSERT INTO towns VALUES ('OK', 400000, 'Tulsa');
            CREATE PUBLICATION pub FOR TABLE towns;
            """);
        var target = new RecordingTarget();
        await using var run = ReplicationRun.Start(pg, db, target);
        await run.WaitForStreamingAsync();
        await pg.ExecuteAsync(db, "ALTER TABLE towns ADD COLUMN mayor text; INSERT INTO towns VALUES ('OR', 175000, 'Salem', 'x')");
        await run.SettleAsync();
        var (schema, rows) = target.Snapshot("towns");
        Assert.Equal(["name", "state"], schema.KeyColumns.Select(k => schema.Columns[k].Name));
        Assert.Equal(["Salem/OR", "Tulsa/OK"], rows.Keys.Order());
    }
}
