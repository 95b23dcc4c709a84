using Npgsql;
using Pgrelay.Replication.Slots;
using Pgrelay.Testing;
using Xunit;

namespace Pgrelay.Replication.Tests;

/// <summary>
/// The WAL the slot makes the server keep, read at start (what a slot left by an earlier run held while nobody read it)
/// and while running, with a warning logged once per crossing of the threshold, either way.
/// </summary>
public abstract class SlotRetentionTests(PostgresFixture pg)
{
    public sealed class PG14(Postgres14Fixture pg) : SlotRetentionTests(pg), IClassFixture<Postgres14Fixture>;
    public sealed class PG15(PostgresFixture pg) : SlotRetentionTests(pg), IClassFixture<PostgresFixture>;
    public sealed class PG16(Postgres16Fixture pg) : SlotRetentionTests(pg), IClassFixture<Postgres16Fixture>;
    public sealed class PG17(Postgres17Fixture pg) : SlotRetentionTests(pg), IClassFixture<Postgres17Fixture>;
    public sealed class PG18(Postgres18Fixture pg) : SlotRetentionTests(pg), IClassFixture<Postgres18Fixture>;

    private const long Threshold = 1 << 20;

    [Fact]
    public async Task What_a_slot_held_while_pgrelay_was_down_is_read_before_start_up_changes_it()
    {
        var db = await pg.NewDatabaseAsync();
        await pg.ExecuteAsync(db, "CREATE TABLE t (id int PRIMARY KEY, v text); CREATE PUBLICATION pub FOR TABLE t");
        // A slot an earlier run of this instance left behind (kill -9 leaves it; its name is kept in the state directory),
        // and WAL written while nothing read it.
        var state = Directory.CreateTempSubdirectory("pgrelay-retention-").FullName;
        var slot = SlotNames.NewFor(db);
        await File.WriteAllTextAsync(Path.Combine(state, InstanceSlot.StateFileName), slot + "\n");
        await pg.ExecuteAsync(db, $"SELECT pg_create_logical_replication_slot('{slot}', 'pgoutput')");
        var before = await WalPositionAsync(db);
        await pg.ExecuteAsync(db, "INSERT INTO t SELECT g, repeat('w', 200) FROM generate_series(1, 20000) g");
        long written = await WalPositionAsync(db) - before;
        Assert.True(written > 2 * Threshold, $"the test wrote only {written} bytes of WAL");

        var logs = new ListLoggerFactory();
        await using var run = ReplicationRun.Start(pg, db, new RecordingTarget(), o =>
        {
            Configure(o);
            o.StateDirectory = state;
        }, logs);
        await run.WaitForStreamingAsync();

        var atStart = run.Status.RetentionAtStart;
        Assert.NotNull(atStart);
        Assert.True(atStart.Exists);
        Assert.True(atStart.RetainedBytes >= written, $"read {atStart.RetainedBytes} bytes at start, {written} were written while down");
        Assert.Equal("reserved", atStart.WalStatus);
        Assert.Contains(logs.Lines, l => l.StartsWith("Warning:") && l.Contains($"slot {slot} held") && l.Contains("before this start"));
        // The slot was recreated for a fresh snapshot: the next readings are small again, and the warning clears, said once.
        await run.WaitAsync(() => run.Status.Retention is { Exists: true } r && r.RetainedBytes < Threshold && !run.Status.RetentionWarning,
            "a reading of the new slot below the threshold");
        await run.WaitAsync(() => logs.Contains("below slot-retention-warning"), "the all-clear in the log");
    }

    [Fact]
    public async Task Retention_that_grows_while_running_is_warned_about_once_per_crossing()
    {
        var db = await pg.NewDatabaseAsync();
        await pg.ExecuteAsync(db, "CREATE TABLE t (id int PRIMARY KEY, v text); CREATE PUBLICATION pub FOR TABLE t");
        var logs = new ListLoggerFactory();
        await using var run = ReplicationRun.Start(pg, db, new RecordingTarget(), Configure, logs);
        await run.WaitForStreamingAsync();
        await run.WaitAsync(() => run.Status.Retention is { Exists: true }, "a first reading");
        Assert.False(run.Status.RetentionWarning);

        // An open transaction that wrote something holds the slot's restart_lsn back: everything written after it is kept.
        await using var holder = await pg.OpenAsync(db);
        await using (var open = new NpgsqlCommand("BEGIN; INSERT INTO t VALUES (0, 'held open')", holder)) await open.ExecuteNonQueryAsync();
        for (int i = 1; i <= 3; i++)
            await pg.ExecuteAsync(db, $"INSERT INTO t SELECT g, repeat('w', 200) FROM generate_series({i * 100000}, {i * 100000 + 9999}) g");
        await run.WaitAsync(() => run.Status.RetentionWarning, "the retention warning");
        Assert.True(run.Status.Retention!.RetainedBytes > Threshold);
        int warnings = Count(logs, "above slot-retention-warning");
        Assert.Equal(1, warnings);

        // More readings above the threshold say nothing new.
        var seen = run.Status.Retention.At;
        await run.WaitAsync(() => run.Status.Retention!.At > seen.AddSeconds(1), "two more readings");
        Assert.Equal(1, Count(logs, "above slot-retention-warning"));

        // Once the transaction ends and a checkpoint logs the running transactions, the slot moves on and the warning clears.
        await using (var commit = new NpgsqlCommand("COMMIT", holder)) await commit.ExecuteNonQueryAsync();
        var deadline = DateTime.UtcNow + ReplicationRun.DefaultTimeout;   // a hang guard
        while (run.Status.RetentionWarning)
        {
            Assert.True(DateTime.UtcNow < deadline, "the warning never cleared");
            await pg.ExecuteAsync(db, "CHECKPOINT");
            await Task.Delay(300);
        }
        Assert.Equal(1, Count(logs, "below slot-retention-warning"));
        Assert.Equal(1, Count(logs, "above slot-retention-warning"));
    }

    private static void Configure(ReplicationOptions o)
    {
        o.SlotRetentionWarningBytes = Threshold;
        o.SlotCheckInterval = TimeSpan.FromMilliseconds(200);
    }

    private static int Count(ListLoggerFactory logs, string text) => logs.Lines.Count(l => l.Contains(text, StringComparison.Ordinal));

    private async Task<long> WalPositionAsync(string db) =>
        await pg.ScalarAsync<long>(db, "SELECT (pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint");
}
