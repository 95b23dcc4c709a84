using Pgrelay.Core.Changes;
using Pgrelay.Core.Model;
using Pgrelay.Store;
using Pgrelay.Store.Feed;
using Pgrelay.Testing;
using Xunit;

namespace Pgrelay.Replication.Tests;

/// <summary>
/// A kept slot (sinks with checkpoints) resumed below a fresh snapshot: the transactions in between are replayed to the
/// feed for the durable consumers that lack them. Rows of a table without primary key are copies: each replayed change
/// must name the copy (<c>…/k</c>) it added or took away at its own time.
/// </summary>
public abstract class ReplayWindowTests(PostgresFixture pg)
{
    public sealed class PG14(Postgres14Fixture pg) : ReplayWindowTests(pg), IClassFixture<Postgres14Fixture>;
    public sealed class PG15(PostgresFixture pg) : ReplayWindowTests(pg), IClassFixture<PostgresFixture>;
    public sealed class PG16(Postgres16Fixture pg) : ReplayWindowTests(pg), IClassFixture<Postgres16Fixture>;
    public sealed class PG17(Postgres17Fixture pg) : ReplayWindowTests(pg), IClassFixture<Postgres17Fixture>;
    public sealed class PG18(Postgres18Fixture pg) : ReplayWindowTests(pg), IClassFixture<Postgres18Fixture>;

    [Fact]
    public async Task Identical_rows_replayed_from_a_kept_slot_are_numbered_as_copies()
    {
        var db = await pg.NewDatabaseAsync();
        await pg.ExecuteAsync(db, """
            CREATE TABLE tags (name text, n int);
            ALTER TABLE tags REPLICA IDENTITY FULL;
            INSERT INTO tags VALUES ('y', 2);
            CREATE PUBLICATION pub FOR TABLE tags;
            """);
        Action<ReplicationOptions> kept = o => { o.KeepSlot = true; o.DropSlotOnStop = false; o.SlotName = "kept_" + db; };
        await using (var earlier = ReplicationRun.Start(pg, db, new ReplicatedStore(), kept))
        {
            await earlier.WaitForStreamingAsync();
            await earlier.SyncAsync();
        }
        var slot = new Lsn((ulong)await pg.ScalarAsync<NpgsqlTypes.NpgsqlLogSequenceNumber>(db,
            $"SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = 'kept_{db}'"));

        // While pgrelay is down (the window between the slot and the next snapshot): identical rows come and go.
        await pg.ExecuteAsync(db, "INSERT INTO tags VALUES ('x', 1), ('x', 1);");
        await pg.ExecuteAsync(db, "INSERT INTO tags VALUES ('x', 1);");
        await pg.ExecuteAsync(db, "DELETE FROM tags WHERE ctid = (SELECT min(ctid) FROM tags WHERE name = 'x');");
        await pg.ExecuteAsync(db, "UPDATE tags SET name = 'x', n = 1 WHERE name = 'y';");

        var store = new ReplicatedStore();
        await using var run = ReplicationRun.Start(pg, db, store, kept);
        await run.WaitForStreamingAsync();
        // Nothing is written after the snapshot: the heartbeat closes the window.
        var replayed = new List<CommittedTransaction>();
        await run.WaitAsync(() =>
        {
            replayed.Clear();
            store.Feed.TryReadAfterEnd(slot, 100, replayed);
            return replayed.Count(t => t.Changes.Any(c => c.Table.Schema.TableName == "tags")) >= 4;
        }, "the replayed transactions to reach the feed");

        var copies = replayed.SelectMany(t => t.Changes).Where(c => c.Table.Schema.TableName == "tags")
            .Select(c => (c.Kind, Name: Name(c), c.BeforeCopy, c.AfterCopy)).ToList();
        Assert.Equal(
        [
            (ChangeKind.Insert, "x", 1, 1), (ChangeKind.Insert, "x", 1, 2),
            (ChangeKind.Insert, "x", 1, 3),
            (ChangeKind.Delete, "x", 3, 1),
            (ChangeKind.Update, "x", 1, 3),
        ], copies);
        Assert.True(replayed.All(t => t.Replayed));
        Assert.True(store.TryGetRow("pub.tags.x/1/3"u8.ToArray(), out _));
        Assert.False(store.TryGetRow("pub.tags.x/1/4"u8.ToArray(), out _));
    }

    private static string Name(AppliedChange c) =>
        System.Text.Encoding.UTF8.GetString(new Pgrelay.Core.Rows.RowView(c.KeyRow!).Value(0));
}
