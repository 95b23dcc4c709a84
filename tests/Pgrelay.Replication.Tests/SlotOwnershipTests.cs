using Npgsql;
using Pgrelay.Core.Status;
using Pgrelay.Store;
using Pgrelay.Testing;
using Xunit;

namespace Pgrelay.Replication.Tests;

/// <summary>
/// Each instance owns its slot (issue 10 item 3). Two instances that shared the default slot name took it from each
/// other (one dropped and recreated it, the other reattached past what its cache held); anything that moves a slot while
/// its instance is away opens the same silent gap. Now each default is unique, and every attach checks the slot.
/// </summary>
public abstract class SlotOwnershipTests(PostgresFixture pg)
{
    public sealed class PG14(Postgres14Fixture pg) : SlotOwnershipTests(pg), IClassFixture<Postgres14Fixture>;
    public sealed class PG15(PostgresFixture pg) : SlotOwnershipTests(pg), IClassFixture<PostgresFixture>;
    public sealed class PG16(Postgres16Fixture pg) : SlotOwnershipTests(pg), IClassFixture<Postgres16Fixture>;
    public sealed class PG17(Postgres17Fixture pg) : SlotOwnershipTests(pg), IClassFixture<Postgres17Fixture>;
    public sealed class PG18(Postgres18Fixture pg) : SlotOwnershipTests(pg), IClassFixture<Postgres18Fixture>;

    [Fact]
    public async Task Two_instances_with_default_settings_are_both_exact_and_each_stop_leaves_the_other_working()
    {
        var db = await pg.NewDatabaseAsync();
        await pg.ExecuteAsync(db, """
            CREATE TABLE acc (id int PRIMARY KEY, n int);
            INSERT INTO acc SELECT g, 0 FROM generate_series(1, 2000) g;
            CREATE PUBLICATION pub FOR TABLE acc;
            """);
        using var stop = new CancellationTokenSource();
        var workload = Task.Run(() => WorkloadAsync(db, stop.Token));
        var a = new ReplicatedStore();
        var b = new ReplicatedStore();
        var runA = ReplicationRun.Start(pg, db, a);
        await using var runB = ReplicationRun.Start(pg, db, b);
        try
        {
            await runA.WaitForStreamingAsync();
            await runB.WaitForStreamingAsync();
            Assert.NotEqual(runA.Service.SlotName, runB.Service.SlotName);
            await Task.Delay(500);
        }
        finally
        {
            stop.Cancel();
            await workload;
        }
        await runA.SyncAsync();
        await runB.SyncAsync();
        await StoreAssertions.MatchesAsync(pg, db, a, "acc");
        await StoreAssertions.MatchesAsync(pg, db, b, "acc");

        // A graceful stop drops A's own slot, and only that one.
        var slotA = runA.Service.SlotName;
        await runA.DisposeAsync();
        Assert.Equal(0, await pg.ScalarAsync<long>(db, $"SELECT count(*) FROM pg_replication_slots WHERE slot_name = '{slotA}'"));
        Assert.Equal(1, await pg.ScalarAsync<long>(db, $"SELECT count(*) FROM pg_replication_slots WHERE slot_name = '{runB.Service.SlotName}'"));
        await pg.ExecuteAsync(db, "UPDATE acc SET n = n + 1000 WHERE id % 3 = 0; DELETE FROM acc WHERE id < 50;");
        await runB.SyncAsync();
        await StoreAssertions.MatchesAsync(pg, db, b, "acc");
        Assert.Equal(0, runB.Status.Resnapshots);
        Assert.Equal(ReplicationPhase.Streaming, runB.Status.Phase);
    }

    private async Task WorkloadAsync(string db, CancellationToken ct)
    {
        var random = new Random(3);
        await using var conn = await pg.OpenAsync(db);
        for (int i = 0; i < 5000 && !ct.IsCancellationRequested; i++)
        {
            await using var cmd = new NpgsqlCommand(random.Next(3) switch
            {
                0 => $"UPDATE acc SET n = n + 1 WHERE id = {random.Next(1, 2000)}",
                1 => $"INSERT INTO acc VALUES ({10000 + i}, {i})",
                _ => $"DELETE FROM acc WHERE id = {random.Next(1, 2000)}",
            }, conn);
            await cmd.ExecuteNonQueryAsync(CancellationToken.None);
        }
    }

    /// <summary>
    /// While the instance is disconnected (its walsender terminated, reconnecting after a pause) the slot is advanced past
    /// changes it never received. On reattach the slot is found confirmed beyond what the store holds: a fresh snapshot,
    /// loud, and the store is exact again.
    /// </summary>
    [Fact]
    public async Task A_slot_advanced_while_the_instance_is_away_is_detected_and_a_fresh_snapshot_taken()
    {
        var db = await pg.NewDatabaseAsync();
        await pg.ExecuteAsync(db, """
            CREATE TABLE t (id int PRIMARY KEY, v text);
            INSERT INTO t SELECT g, 'v' FROM generate_series(1, 100) g;
            CREATE PUBLICATION pub FOR TABLE t;
            """);
        var store = new ReplicatedStore();
        var log = new ListLoggerFactory();
        await using var run = ReplicationRun.Start(pg, db, store, o => o.ReconnectInitialDelay = o.ReconnectMaxDelay = TimeSpan.FromSeconds(3), log);
        await run.WaitForStreamingAsync();
        await run.SyncAsync();
        var slot = run.Service.SlotName;

        // Terminate the walsender and, once the slot is free, write and skip past changes the instance will never see. The
        // advance goes no further than WAL already flushed (the test cluster commits asynchronously), so it is repeated until
        // it passed them.
        await using var conn = await pg.OpenAsync(db);
        for (int attempt = 0; ; attempt++)
        {
            await Exec(conn, $"SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = '{slot}' AND active_pid IS NOT NULL");
            await PostgresHarness.WaitUntilAsync(() => pg.ScalarAsync<bool>(db, $"SELECT NOT active FROM pg_replication_slots WHERE slot_name = '{slot}'")
                .GetAwaiter().GetResult(), TimeSpan.FromSeconds(30), "the walsender to let go of the slot");
            await Exec(conn, $"INSERT INTO t VALUES ({1000 + attempt}, 'skipped'); UPDATE t SET v = 'skipped' WHERE id = 1;");
            var past = await pg.ScalarAsync<string>(db, "SELECT pg_current_wal_insert_lsn()::text");
            try
            {
                for (int i = 0; i < 500 && !await pg.ScalarAsync<bool>(db,
                         $"SELECT confirmed_flush_lsn >= '{past}' FROM pg_replication_slots WHERE slot_name = '{slot}'"); i++)
                    await Exec(conn, $"SELECT pg_replication_slot_advance('{slot}', '{past}')");
                break;
            }
            catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.ObjectInUse && attempt < 20)
            {
                // The instance reconnected first; try again.
            }
        }

        await run.WaitAsync(() => run.Status.Resnapshots > 0, "the moved slot to be noticed");
        await run.WaitForStreamingAsync();
        await pg.ExecuteAsync(db, "UPDATE t SET v = 'after' WHERE id = 2");
        await run.SettleAsync();
        await StoreAssertions.MatchesAsync(pg, db, store, "t");
        Assert.Contains("past what this instance holds", run.Status.LastResnapshotReason);
        Assert.True(log.Contains("taking a fresh snapshot"));
    }

    [Fact]
    public async Task An_explicit_slot_this_instance_did_not_create_is_refused_with_one_line_and_left_alone()
    {
        var db = await pg.NewDatabaseAsync();
        await pg.ExecuteAsync(db, """
            CREATE TABLE t (id int PRIMARY KEY);
            CREATE PUBLICATION pub FOR TABLE t;
            """);
        await pg.ExecuteAsync(db, "SELECT pg_create_logical_replication_slot('someone_elses', 'pgoutput')");
        var run = ReplicationRun.Start(pg, db, new ReplicatedStore(), o => o.SlotName = "someone_elses");
        var e = await Assert.ThrowsAsync<ReplicationSetupException>(() => run.Running);
        await Assert.ThrowsAsync<ReplicationSetupException>(() => run.DisposeAsync().AsTask());
        Assert.Contains("already exists and this instance did not create it", e.Message);
        Assert.DoesNotContain('\n', e.Message);
        Assert.Equal(1, await pg.ScalarAsync<long>(db, "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'someone_elses'"));
        await pg.ExecuteAsync(db, "SELECT pg_drop_replication_slot('someone_elses')");
    }

    [Fact]
    public async Task Leftover_pgrelay_slots_are_reported_with_the_wal_they_hold_and_never_dropped()
    {
        var db = await pg.NewDatabaseAsync();
        await pg.ExecuteAsync(db, """
            CREATE TABLE t (id int PRIMARY KEY);
            CREATE PUBLICATION pub FOR TABLE t;
            """);
        var leftover = "pgrelay_" + db + "_deadbeef";
        await pg.ExecuteAsync(db, $"SELECT pg_create_logical_replication_slot('{leftover}', 'pgoutput')");
        var log = new ListLoggerFactory();
        await using (var run = ReplicationRun.Start(pg, db, new ReplicatedStore(), loggers: log))
            await run.WaitForStreamingAsync();
        Assert.Contains(log.Lines, l => l.StartsWith("Warning") && l.Contains(leftover) && l.Contains("bytes of WAL"));
        Assert.Equal(1, await pg.ScalarAsync<long>(db, $"SELECT count(*) FROM pg_replication_slots WHERE slot_name = '{leftover}'"));
        await pg.ExecuteAsync(db, $"SELECT pg_drop_replication_slot('{leftover}')");
    }

    /// <summary>A stop that leaves the slot behind (as kill -9 does): the same instance, started again with its state
    /// directory, finds its own slot, recreates it and leaves nothing behind.</summary>
    [Fact]
    public async Task With_a_state_directory_a_restart_takes_back_its_own_leftover_slot()
    {
        var db = await pg.NewDatabaseAsync();
        await pg.ExecuteAsync(db, """
            CREATE TABLE t (id int PRIMARY KEY);
            INSERT INTO t SELECT generate_series(1, 10);
            CREATE PUBLICATION pub FOR TABLE t;
            """);
        var state = Path.Combine(Path.GetTempPath(), "pgrelay-state-" + Guid.NewGuid().ToString("N"));
        try
        {
            string first;
            await using (var run = ReplicationRun.Start(pg, db, new ReplicatedStore(), o => { o.StateDirectory = state; o.DropSlotOnStop = false; }))
            {
                await run.WaitForStreamingAsync();
                first = run.Service.SlotName;
            }
            Assert.Equal(1, await pg.ScalarAsync<long>(db, $"SELECT count(*) FROM pg_replication_slots WHERE slot_name = '{first}'"));
            await pg.ExecuteAsync(db, "INSERT INTO t VALUES (11)");

            var store = new ReplicatedStore();
            var log = new ListLoggerFactory();
            await using (var run = ReplicationRun.Start(pg, db, store, o => o.StateDirectory = state, log))
            {
                await run.WaitForStreamingAsync();
                Assert.Equal(first, run.Service.SlotName);
                await run.SyncAsync();
                await StoreAssertions.MatchesAsync(pg, db, store, "t");
            }
            Assert.DoesNotContain(log.Lines, l => l.Contains("inactive slot"));
            Assert.Equal(0, await pg.ScalarAsync<long>(db, $"SELECT count(*) FROM pg_replication_slots WHERE slot_name = '{first}'"));
        }
        finally
        {
            Directory.Delete(state, recursive: true);
        }
    }

    private static async Task Exec(NpgsqlConnection conn, string sql)
    {
        await using var cmd = new NpgsqlCommand(sql, conn);
        await cmd.ExecuteNonQueryAsync();
    }
}
