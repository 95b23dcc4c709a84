using Npgsql;
using Pgrelay.Store;
using Pgrelay.Testing;
using Xunit;

namespace Pgrelay.Replication.Tests;

/// <summary>
/// The edge between the exported snapshot and the stream. PostgreSQL decodes every commit whose record starts at or after
/// the slot's consistent point, the one starting exactly there included, and the snapshot holds none of them.
/// </summary>
public sealed class ConsistentPointTests(PostgresFixture pg) : IClassFixture<PostgresFixture>
{
    /// <summary>
    /// X opens a transaction, the slot's creation waits on it, Y and Z overlap it, and Z commits right after the snapshot
    /// builder's last running-xacts record: that commit lies exactly at the consistent point. Whether the timing lands it
    /// there varies, so the scenario repeats until it did (and every attempt must be exact).
    /// </summary>
    [Fact]
    public Task A_commit_at_the_consistent_point_is_applied_not_taken_for_part_of_the_snapshot() => RepeatUntilTheEdgeIsHitAsync(keptSlot: false);

    /// <summary>
    /// The same edge when a kept slot (sinks with checkpoints) resumes below a snapshot exported by a temporary slot: the
    /// commits between the kept slot's position and the consistent point are replayed, the one at the consistent point
    /// must be applied.
    /// </summary>
    [Fact]
    public Task On_a_kept_slot_a_commit_at_the_consistent_point_is_applied_not_replayed() => RepeatUntilTheEdgeIsHitAsync(keptSlot: true);

    private async Task RepeatUntilTheEdgeIsHitAsync(bool keptSlot)
    {
        int hits = 0;
        for (int attempt = 0; attempt < 12 && hits == 0; attempt++)
            if (await CommitAroundSlotCreationAsync(keptSlot)) hits++;
        Assert.True(hits > 0, "no attempt produced a commit exactly at the consistent point; the scenario no longer tests the edge");
    }

    /// <summary>Runs the scenario once, asserts the store is exact, and says whether a commit landed at the consistent point.</summary>
    private async Task<bool> CommitAroundSlotCreationAsync(bool keptSlot)
    {
        var db = await pg.NewDatabaseAsync();
        await pg.ExecuteAsync(db, """
            CREATE TABLE t (id int PRIMARY KEY, who text);
            CREATE PUBLICATION pub FOR TABLE t;
            """);
        Action<ReplicationOptions> options = o => { };
        var slotBeingCreated = "SELECT count(*) FROM pg_replication_slots";
        if (keptSlot)
        {
            options = o => { o.KeepSlot = true; o.DropSlotOnStop = false; };
            await using (var earlier = ReplicationRun.Start(pg, db, new ReplicatedStore(), options))
                await earlier.WaitForStreamingAsync();
            await pg.ExecuteAsync(db, "INSERT INTO t VALUES (0, 'before the restart')");
            slotBeingCreated += " WHERE temporary";
        }
        // No PRUNE or other record may take the place right after the consistent point.
        await pg.ExecuteAsync(db, "VACUUM t");

        await using var x = await pg.OpenAsync(db);
        await using var y = await pg.OpenAsync(db);
        await using var z = await pg.OpenAsync(db);
        await Exec(x, "BEGIN; INSERT INTO t VALUES (1, 'x')");

        var store = new ReplicatedStore();
        await using var run = ReplicationRun.Start(pg, db, store, options);
        // Slot creation waits for X, which holds an xid; the slot is listed while its snapshot builder waits.
        await run.WaitAsync(() => pg.ScalarAsync<long>(db, slotBeingCreated).GetAwaiter().GetResult() > 0, "the slot to be created");
        await Exec(y, "BEGIN; INSERT INTO t VALUES (2, 'y')");
        await Exec(x, "COMMIT");
        await Exec(z, "BEGIN; INSERT INTO t VALUES (3, 'z')");
        await Exec(y, "COMMIT");
        await Task.Delay(300);
        await Exec(z, "COMMIT");

        await run.WaitForStreamingAsync();
        await run.SyncAsync();
        var consistentPoint = run.Status.ConsistentPoint;
        string[] ids = keptSlot ? ["0", "1", "2", "3"] : ["1", "2", "3"];
        foreach (var id in ids)
            Assert.True(store.TryGetRow(System.Text.Encoding.UTF8.GetBytes("pub.t." + id), out _),
                $"row {id} is in the database but not in the store (consistent point {consistentPoint})");
        Assert.Equal(ids.Length, store.TotalRows);
        return store.Feed.TryReadAfterEnd(consistentPoint, out var first) == Store.Feed.FeedRead.Transaction &&
               first!.CommitLsn == consistentPoint;
    }

    private static async Task Exec(NpgsqlConnection conn, string sql)
    {
        await using var cmd = new NpgsqlCommand(sql, conn);
        await cmd.ExecuteNonQueryAsync();
    }
}
