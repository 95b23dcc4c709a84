using Npgsql;
using Pgrelay.Store;
using Pgrelay.Store.Checkpoints;
using Pgrelay.Testing;
using Xunit;

namespace Pgrelay.Replication.Tests;

/// <summary>
/// Restarting from the store's checkpoint (issue 12 items 2 and 3): a usable checkpoint replaces the snapshot copy and the
/// stream resumes on the kept slot, exactly; every way a checkpoint can be useless (a damaged file, the slot dropped or
/// advanced while pgrelay was stopped, the schema or a publication's membership changed, another database) is detected,
/// said loudly, and a fresh snapshot makes the store exact. (Identical rows of a table without primary key, which a checkpoint
/// keeps as one version with copies, are covered by the store's CheckpointFileTests: StoreAssertions keys rows without copies.)
/// </summary>
public abstract class CheckpointRestartTests(PostgresFixture pg) : IAsyncLifetime
{
    public sealed class PG14(Postgres14Fixture pg) : CheckpointRestartTests(pg), IClassFixture<Postgres14Fixture>;
    public sealed class PG15(PostgresFixture pg) : CheckpointRestartTests(pg), IClassFixture<PostgresFixture>;
    public sealed class PG16(Postgres16Fixture pg) : CheckpointRestartTests(pg), IClassFixture<Postgres16Fixture>;
    public sealed class PG17(Postgres17Fixture pg) : CheckpointRestartTests(pg), IClassFixture<Postgres17Fixture>;
    public sealed class PG18(Postgres18Fixture pg) : CheckpointRestartTests(pg), IClassFixture<Postgres18Fixture>;

    private readonly string _stateDir = Directory.CreateTempSubdirectory("pgrelay-state-").FullName;

    private readonly List<string> _databases = [];

    public Task InitializeAsync() => Task.CompletedTask;

    /// <summary>The slots this test's instances kept (checkpoints keep them across stops) go with it: the class's tests share
    /// one cluster, whose slots are few.</summary>
    public async Task DisposeAsync()
    {
        Directory.Delete(_stateDir, recursive: true);
        foreach (var db in _databases)
        {
            const string left = "FROM pg_replication_slots WHERE database = current_database()";
            try
            {
                await PostgresHarness.WaitUntilAsync(() => pg.ScalarAsync<bool>(db, $"SELECT NOT EXISTS (SELECT 1 {left} AND active)").GetAwaiter().GetResult(),
                    TimeSpan.FromSeconds(30), "the walsenders to let go of the slots");
            }
            catch (TimeoutException) { }   // what is still active stays; the test itself is over
            await pg.ExecuteAsync(db, $"SELECT pg_drop_replication_slot(slot_name) {left} AND NOT active");
        }
    }

    private sealed record Instance(ReplicationRun Run, ReplicatedStore Store, StoreCheckpoints Checkpoints, ListLoggerFactory Log) : IAsyncDisposable
    {
        private int _disposed;
        public ValueTask DisposeAsync() => Interlocked.Exchange(ref _disposed, 1) == 0 ? Run.DisposeAsync() : ValueTask.CompletedTask;
    }

    private async Task<Instance> StartAsync(string db)
    {
        var instance = Begin(db, beforeServing: null);
        await instance.Run.WaitForStreamingAsync();
        return instance;
    }

    /// <summary>Starts without waiting; with <paramref name="beforeServing"/>, streaming waits for it (a process's listeners).</summary>
    private Instance Begin(string db, Task? beforeServing)
    {
        var store = new ReplicatedStore();
        var log = new ListLoggerFactory();
        StoreCheckpoints? checkpoints = null;
        var run = ReplicationRun.Start(pg, db, store, o => o.StateDirectory = _stateDir, log,
            status => checkpoints = new StoreCheckpoints(store, _stateDir, TimeSpan.FromHours(1), status.Checkpoints), beforeServing);
        return new Instance(run, store, checkpoints!, log);
    }

    private async Task<string> NewDatabaseAsync()
    {
        var db = await pg.NewDatabaseAsync();
        _databases.Add(db);
        await pg.ExecuteAsync(db, """
            CREATE TABLE t (id int PRIMARY KEY, v text, n int);
            INSERT INTO t SELECT g, repeat('x', g % 7), g FROM generate_series(1, 500) g;
            UPDATE t SET v = NULL WHERE id % 50 = 0;
            CREATE TABLE bag (a text, b int);
            ALTER TABLE bag REPLICA IDENTITY FULL;
            INSERT INTO bag VALUES ('one', 1), ('two', 1), (NULL, NULL), ('other', 2);
            CREATE PUBLICATION pub FOR TABLE t, bag;
            """);
        return db;
    }

    /// <summary>Runs, writes a checkpoint at K, applies more (which the slot must keep, being past K), stops gracefully.</summary>
    private async Task<(string Db, string Slot, Core.Model.Lsn K)> CheckpointedAndStoppedAsync()
    {
        var db = await NewDatabaseAsync();
        await using var first = await StartAsync(db);
        await pg.ExecuteAsync(db, "UPDATE t SET n = n + 1 WHERE id % 3 = 0; DELETE FROM bag WHERE a = 'other';");
        await first.Run.SyncAsync();
        var k = await first.Checkpoints.WriteAsync(CancellationToken.None) ?? throw new InvalidOperationException(first.Checkpoints.LastSkipped);
        await pg.ExecuteAsync(db, """
            UPDATE t SET v = 'after-k' WHERE id < 20;
            DELETE FROM t WHERE id BETWEEN 100 AND 110;
            INSERT INTO bag VALUES ('after-k', 3);
            """);
        await first.Run.SyncAsync();
        return (db, first.Run.Service.SlotName, k);
    }

    private async Task WhileStoppedAsync(string db) => await pg.ExecuteAsync(db, """
        INSERT INTO t VALUES (9001, 'while stopped', NULL);
        UPDATE t SET n = -n WHERE id % 5 = 0;
        DELETE FROM bag WHERE a IS NULL;
        """);

    private async Task AssertExactAsync(string db, Instance instance)
    {
        await pg.ExecuteAsync(db, "UPDATE t SET v = 'last' WHERE id = 1; INSERT INTO bag SELECT 'last', count(*) FROM bag;");
        await instance.Run.SettleAsync();
        await StoreAssertions.MatchesAsync(pg, db, instance.Store, "t");
        await StoreAssertions.MatchesAsync(pg, db, instance.Store, "bag");
    }

    [Fact]
    public async Task A_restart_from_a_checkpoint_copies_nothing_and_is_exact()
    {
        var (db, slot, k) = await CheckpointedAndStoppedAsync();
        // Kept across the graceful stop, and confirmed no further than the checkpoint.
        Assert.True(await pg.ScalarAsync<bool>(db, $"SELECT confirmed_flush_lsn <= '{k}' FROM pg_replication_slots WHERE slot_name = '{slot}'"));
        await WhileStoppedAsync(db);

        await using var second = await StartAsync(db);
        Assert.Equal(slot, second.Run.Service.SlotName);
        Assert.Equal(0, second.Run.Status.SnapshotRowsCopied);
        Assert.Equal(k, second.Run.Status.Checkpoints.LoadedLsn);
        Assert.True(second.Log.Contains("resumed from checkpoint"));
        Assert.False(second.Log.Contains("taking a fresh snapshot"));
        await AssertExactAsync(db, second);
        Assert.Equal(0, second.Run.Status.Checkpoints.Useless);
    }

    [Theory]
    [InlineData("flip", "bad checksum")]
    [InlineData("truncate", "ends early")]
    public async Task A_damaged_checkpoint_is_detected_and_a_fresh_snapshot_is_exact(string damage, string reason)
    {
        var (db, _, _) = await CheckpointedAndStoppedAsync();
        await WhileStoppedAsync(db);
        var file = Assert.Single(Directory.GetFiles(Path.Combine(_stateDir, "checkpoints"), "*.ckpt"));
        var bytes = await File.ReadAllBytesAsync(file);
        if (damage == "flip") bytes[bytes.Length * 2 / 3] ^= 1;
        else bytes = bytes[..(bytes.Length - 30)];
        await File.WriteAllBytesAsync(file, bytes);

        await using var second = await StartAsync(db);
        await AssertUselessAsync(db, second, reason);
    }

    [Fact]
    public async Task A_slot_advanced_while_stopped_is_detected_and_a_fresh_snapshot_is_exact()
    {
        var (db, slot, k) = await CheckpointedAndStoppedAsync();
        await WhileStoppedAsync(db);
        await using (var conn = await pg.OpenAsync(db))
        {
            await PostgresHarness.WaitUntilAsync(() => pg.ScalarAsync<bool>(db, $"SELECT NOT active FROM pg_replication_slots WHERE slot_name = '{slot}'")
                .GetAwaiter().GetResult(), TimeSpan.FromSeconds(30), "the walsender to let go of the slot");
            var past = await pg.ScalarAsync<string>(db, "SELECT pg_current_wal_insert_lsn()::text");
            // The test cluster commits asynchronously: the advance goes no further than flushed WAL, so it is repeated.
            for (int i = 0; i < 500 && !await pg.ScalarAsync<bool>(db,
                     $"SELECT confirmed_flush_lsn >= '{past}' FROM pg_replication_slots WHERE slot_name = '{slot}'"); i++)
            {
                await using var advance = new NpgsqlCommand($"SELECT pg_replication_slot_advance('{slot}', '{past}')", conn);
                await advance.ExecuteNonQueryAsync();
            }
        }
        await using var second = await StartAsync(db);
        await AssertUselessAsync(db, second, "is confirmed at");
        Assert.Contains(k.ToString(), second.Run.Status.Checkpoints.LastUselessReason);
    }

    [Fact]
    public async Task A_slot_dropped_while_stopped_is_detected_and_a_fresh_snapshot_is_exact()
    {
        var (db, slot, _) = await CheckpointedAndStoppedAsync();
        await WhileStoppedAsync(db);
        await PostgresHarness.WaitUntilAsync(() => pg.ScalarAsync<bool>(db, $"SELECT NOT active FROM pg_replication_slots WHERE slot_name = '{slot}'")
            .GetAwaiter().GetResult(), TimeSpan.FromSeconds(30), "the walsender to let go of the slot");
        await pg.ExecuteAsync(db, $"SELECT pg_drop_replication_slot('{slot}')");
        await using var second = await StartAsync(db);
        await AssertUselessAsync(db, second, "no longer exists");
    }

    [Fact]
    public async Task A_schema_change_while_stopped_is_detected_and_a_fresh_snapshot_is_exact()
    {
        var (db, _, _) = await CheckpointedAndStoppedAsync();
        await WhileStoppedAsync(db);
        await pg.ExecuteAsync(db, "ALTER TABLE t DROP COLUMN v; ALTER TABLE t ADD COLUMN v text DEFAULT 'd';");
        await using var second = await StartAsync(db);
        await AssertUselessAsync(db, second, "the schema of table public.t changed");
    }

    [Fact]
    public async Task A_table_that_left_its_publication_and_came_back_while_stopped_is_detected()
    {
        var (db, _, _) = await CheckpointedAndStoppedAsync();
        await pg.ExecuteAsync(db, "ALTER PUBLICATION pub DROP TABLE bag");
        await pg.ExecuteAsync(db, "DELETE FROM bag");   // never streamed: bag is out of the publication
        await pg.ExecuteAsync(db, "ALTER PUBLICATION pub ADD TABLE bag");
        await using var second = await StartAsync(db);
        await AssertUselessAsync(db, second, "left its publication and came back");
    }

    [Fact]
    public async Task A_row_filter_changed_while_stopped_is_detected_and_a_fresh_snapshot_is_exact()
    {
        if (pg.Version < 15) return;   // publication row filters are PostgreSQL 15's
        var db = await NewDatabaseAsync();
        await pg.ExecuteAsync(db, "ALTER PUBLICATION pub SET TABLE t WHERE (id <= 300), bag");
        await using (var first = await StartAsync(db))
        {
            Assert.Equal(300, first.Store.Tables.Single(t => t.Schema.TableName == "t").RowCount);
            Assert.NotNull(await first.Checkpoints.WriteAsync(CancellationToken.None));
        }
        // Rows 301-500 now belong to the publication without any change in the stream: the checkpoint lacks them.
        await pg.ExecuteAsync(db, "ALTER PUBLICATION pub SET TABLE t WHERE (id <= 450), bag");
        await using var second = await StartAsync(db);
        Assert.Equal(1, second.Run.Status.Checkpoints.Useless);
        var reason = second.Run.Status.Checkpoints.LastUselessReason ?? "";
        Assert.True(reason.Contains("the row filter of table public.t changed"), reason);
        Assert.True(second.Run.Status.SnapshotRowsCopied > 0);
        await pg.ExecuteAsync(db, "UPDATE t SET v = 'last' WHERE id = 1");
        await second.Run.SettleAsync();
        Assert.Equal(450, second.Store.Tables.Single(t => t.Schema.TableName == "t").RowCount);
        await StoreAssertions.MatchesAsync(pg, db, second.Store, "bag");
    }

    /// <summary>
    /// The command line starts replication before its host is built: the checks and the load run beside the host's start,
    /// and streaming waits until the process serves (sinks and subscribers registered by the host see every change).
    /// </summary>
    [Fact]
    public async Task A_restart_loads_its_checkpoint_beside_the_host_start_and_streams_only_once_the_process_serves()
    {
        var (db, _, k) = await CheckpointedAndStoppedAsync();
        await WhileStoppedAsync(db);
        var serving = new TaskCompletionSource();
        await using var second = Begin(db, serving.Task);
        await second.Run.WaitAsync(() => second.Run.Status.Startup.Has("served"), "the checkpoint to be loaded and checked");
        Assert.Equal(k, second.Run.Status.Checkpoints.LoadedLsn);
        Assert.Equal(k, second.Store.AppliedLsn);   // the checkpoint's state, and nothing streamed past it yet
        Assert.NotEqual(Core.Status.ReplicationPhase.Streaming, second.Run.Status.Phase);
        Assert.False(second.Log.Contains("serving; start-up took"));

        serving.SetResult();
        await second.Run.WaitForStreamingAsync();
        Assert.Equal(0, second.Run.Status.SnapshotRowsCopied);
        await AssertExactAsync(db, second);
    }

    /// <summary>The same for a fresh snapshot: copied before the process serves, streamed from its consistent point after.</summary>
    [Fact]
    public async Task A_fresh_snapshot_loads_beside_the_host_start_and_streams_only_once_the_process_serves()
    {
        var db = await NewDatabaseAsync();
        var serving = new TaskCompletionSource();
        await using var first = Begin(db, serving.Task);
        await first.Run.WaitAsync(() => first.Store.AppliedLsn != Core.Model.Lsn.Zero, "the snapshot to be loaded");
        await pg.ExecuteAsync(db, "UPDATE t SET v = 'before serving' WHERE id < 10; DELETE FROM bag WHERE a = 'two';");
        Assert.Equal(first.Run.Status.ConsistentPoint, first.Store.AppliedLsn);
        Assert.NotEqual(Core.Status.ReplicationPhase.Streaming, first.Run.Status.Phase);

        serving.SetResult();
        await first.Run.WaitForStreamingAsync();
        await AssertExactAsync(db, first);
    }

    [Fact]
    public async Task The_start_up_timeline_says_when_the_checks_the_load_and_serving_ended()
    {
        var (db, _, _) = await CheckpointedAndStoppedAsync();
        await using var second = await StartAsync(db);
        var steps = second.Run.Status.Startup.Marks.Select(m => m.Step).ToList();
        Assert.Equal(["source checked", "checkpoint loaded", "served"], steps.Where(s => s is "source checked" or "checkpoint loaded" or "served"));
        var marks = second.Run.Status.Startup.Marks.ToDictionary(m => m.Step, m => m.Milliseconds);
        Assert.True(marks["source checked"] <= marks["checkpoint loaded"] && marks["checkpoint loaded"] <= marks["served"]);
        Assert.True(second.Log.Contains("serving; start-up took"));
    }

    [Fact]
    public async Task A_checkpoint_of_another_database_is_not_used()
    {
        var (_, _, _) = await CheckpointedAndStoppedAsync();
        var other = await NewDatabaseAsync();
        await using var second = await StartAsync(other);
        await AssertUselessAsync(other, second, "is of database");
    }

    private async Task AssertUselessAsync(string db, Instance instance, string reason)
    {
        Assert.Equal(1, instance.Run.Status.Checkpoints.Useless);
        Assert.Contains(reason, instance.Run.Status.Checkpoints.LastUselessReason);
        Assert.True(instance.Log.Contains("taking a fresh snapshot"));
        Assert.True(instance.Run.Status.SnapshotRowsCopied > 0);
        await AssertExactAsync(db, instance);
        // The next checkpoint is of the new data, and a restart from it is exact again.
        var k = await instance.Checkpoints.WriteAsync(CancellationToken.None);
        Assert.NotNull(k);
        var slot = instance.Run.Service.SlotName;
        await instance.DisposeAsync();
        await using var again = await StartAsync(db);
        Assert.Equal(slot, again.Run.Service.SlotName);
        Assert.Equal(0, again.Run.Status.SnapshotRowsCopied);
        await AssertExactAsync(db, again);
    }
}
