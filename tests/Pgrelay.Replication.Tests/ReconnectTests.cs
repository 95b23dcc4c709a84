using Pgrelay.Core.Status;
using Pgrelay.Testing;
using Xunit;

namespace Pgrelay.Replication.Tests;

public abstract class ReconnectTests(PostgresFixture pg)
{
    public sealed class PG14(Postgres14Fixture pg) : ReconnectTests(pg), IClassFixture<Postgres14Fixture>;
    public sealed class PG15(PostgresFixture pg) : ReconnectTests(pg), IClassFixture<PostgresFixture>;
    public sealed class PG16(Postgres16Fixture pg) : ReconnectTests(pg), IClassFixture<Postgres16Fixture>;
    public sealed class PG17(Postgres17Fixture pg) : ReconnectTests(pg), IClassFixture<Postgres17Fixture>;
    public sealed class PG18(Postgres18Fixture pg) : ReconnectTests(pg), IClassFixture<Postgres18Fixture>;

    [Fact]
    public async Task Replication_resumes_after_a_postgres_restart_without_loss_or_duplicates()
    {
        var db = await pg.NewDatabaseAsync();
        await pg.ExecuteAsync(db, """
            CREATE TABLE k (id int PRIMARY KEY, n int);
            INSERT INTO k SELECT g, 0 FROM generate_series(1, 1000) g;
            CREATE PUBLICATION pub FOR TABLE k;
            """);
        var target = new RecordingTarget();
        await using var run = ReplicationRun.Start(pg, db, target);
        await run.WaitForStreamingAsync();
        await pg.ExecuteAsync(db, "UPDATE k SET n = n + 1 WHERE id <= 500; INSERT INTO k VALUES (2000, 1);");
        await run.SyncAsync();

        await pg.Cluster.RestartAsync();
        // Written while pgrelay is still reconnecting.
        await pg.ExecuteAsync(db, "UPDATE k SET n = n + 10 WHERE id > 250; DELETE FROM k WHERE id = 3; INSERT INTO k VALUES (2001, 5);");
        await run.SyncAsync();
        await run.WaitForStreamingAsync();
        await pg.ExecuteAsync(db, "UPDATE k SET n = n + 100 WHERE id % 7 = 0;");
        await run.SyncAsync();

        Assert.True(run.Status.Reconnects >= 1);
        Assert.Equal(1, target.SnapshotsBegun);
        await Assertions.TableMatchesAsync(pg, run, "k");
        Assert.Equal(ReplicationPhase.Streaming, run.Status.Phase);
    }

    [Fact]
    public async Task An_idle_slot_is_confirmed_forward_by_heartbeats()
    {
        var db = await pg.NewDatabaseAsync();
        await pg.ExecuteAsync(db, """
            CREATE TABLE watched (id int PRIMARY KEY);
            CREATE TABLE other (id int PRIMARY KEY);
            CREATE PUBLICATION pub FOR TABLE watched;
            """);
        var target = new RecordingTarget();
        await using var run = ReplicationRun.Start(pg, db, target);
        await run.WaitForStreamingAsync();
        // Lots of WAL the slot does not publish.
        await pg.ExecuteAsync(db, "INSERT INTO other SELECT generate_series(1, 20000)");
        var written = await pg.ScalarAsync<NpgsqlTypes.NpgsqlLogSequenceNumber>(db, "SELECT pg_current_wal_lsn()");
        await run.WaitAsync(() => run.Status.ConfirmedLsn.Value >= (ulong)written, "the slot to be confirmed past unpublished WAL");
        var confirmed = await pg.ScalarAsync<NpgsqlTypes.NpgsqlLogSequenceNumber>(db,
            $"SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = '{run.Service.SlotName}'");
        Assert.True((ulong)confirmed > 0);
    }

    [Fact]
    public async Task A_graceful_stop_drops_the_slot_unless_asked_to_keep_it()
    {
        var db = await pg.NewDatabaseAsync();
        await pg.ExecuteAsync(db, "CREATE TABLE s (id int PRIMARY KEY); CREATE PUBLICATION pub FOR TABLE s;");
        string dropped, kept;
        await using (var run = ReplicationRun.Start(pg, db, new RecordingTarget()))
        {
            await run.WaitForStreamingAsync();
            dropped = run.Service.SlotName;
        }
        Assert.Equal(0L, await pg.ScalarAsync<long>(db, $"SELECT count(*) FROM pg_replication_slots WHERE slot_name = '{dropped}'"));

        await using (var run = ReplicationRun.Start(pg, db, new RecordingTarget(), o => o.DropSlotOnStop = false))
        {
            await run.WaitForStreamingAsync();
            kept = run.Service.SlotName;
        }
        Assert.Equal(1L, await pg.ScalarAsync<long>(db, $"SELECT count(*) FROM pg_replication_slots WHERE slot_name = '{kept}'"));
        await pg.ExecuteAsync(db, $"SELECT pg_drop_replication_slot('{kept}')");
    }

    [Fact]
    public async Task An_idle_relay_reports_no_lag()
    {
        var db = await pg.NewDatabaseAsync();
        await pg.ExecuteAsync(db, "CREATE TABLE i (id int PRIMARY KEY); CREATE TABLE noise (id int); CREATE PUBLICATION pub FOR TABLE i;");
        await using var run = ReplicationRun.Start(pg, db, new RecordingTarget());
        await run.WaitForStreamingAsync();
        await pg.ExecuteAsync(db, "INSERT INTO i VALUES (1)");
        await run.SyncAsync();
        // Time passes with heartbeats and unpublished WAL only: a caught-up relay must not look further behind each second.
        await Task.Delay(TimeSpan.FromSeconds(3));
        await pg.ExecuteAsync(db, "INSERT INTO noise SELECT generate_series(1, 1000)");
        await run.WaitAsync(() => run.Status.LagSeconds(DateTimeOffset.UtcNow) == 0 && run.Status.LagBytes == 0, "lag to read zero while idle");
    }
}
