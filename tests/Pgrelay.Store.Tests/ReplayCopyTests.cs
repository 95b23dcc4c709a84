using Pgrelay.Core.Changes;
using Pgrelay.Core.Model;
using Pgrelay.Store.Feed;
using static Pgrelay.Store.Tests.StoreBuilder;

namespace Pgrelay.Store.Tests;

/// <summary>
/// Durable consumers that resumed a kept slot below a fresh snapshot get the window's transactions replayed. In a table
/// without primary key the k-th identical row is keyed <c>…/k</c>: a replayed change must name the copy it added or took
/// away at its own time, not copy 1, or a consumer keyed by row key collapses duplicates and deletes the wrong copy.
/// </summary>
public class ReplayCopyTests
{
    private static readonly TableSchema Tags = new(200, "public", "tags",
    [
        new ColumnSchema("name", PgTypes.Text, -1, false),
        new ColumnSchema("n", PgTypes.Int4, -1, false),
    ], ReplicaIdentity.Full);

    private static readonly Lsn SlotConfirmed = new(0x10000), ConsistentPoint = new(0x20000);

    private static Transaction At(ulong commit, params RowChange[] changes) =>
        new(7, new Lsn(commit), new Lsn(commit + 8), DateTimeOffset.UtcNow, changes.Length, changes);

    private static ReplicatedStore StoreWithReplayWindow(params byte[][] snapshotRows)
    {
        var store = new ReplicatedStore();
        store.BeginSnapshot([new PublicationSchema("pub", [Tags])], replayFrom: SlotConfirmed);
        store.LoadSnapshotRows(Tags, snapshotRows);
        store.CompleteSnapshot(ConsistentPoint);
        return store;
    }

    private static List<(ChangeKind Kind, int Before, int After, bool Replayed)> FeedFromSlot(ReplicatedStore store)
    {
        var read = new List<CommittedTransaction>();
        store.Feed.TryReadAfterEnd(SlotConfirmed, 100, read);
        return read.SelectMany(t => t.Changes.Select(c => (c.Kind, c.BeforeCopy, c.AfterCopy, t.Replayed))).ToList();
    }

    [Fact]
    public void Replayed_changes_name_the_copies_they_added_and_took_away_at_their_time()
    {
        // At the slot's position the consumer holds no x and one y. The window: two inserts of x (copies 1, 2); a delete
        // of x (copy 2) and y updated into x (y's copy 1 goes, x's copy 2 comes); one more x (copy 3). The snapshot at
        // the consistent point holds what that leaves: three x, no y.
        var store = StoreWithReplayWindow(Row("x", "1"), Row("x", "1"), Row("x", "1"));
        store.Apply(At(0x11000, new RowChange(ChangeKind.Insert, Tags, Row("x", "1")), new RowChange(ChangeKind.Insert, Tags, Row("x", "1"))));
        store.Apply(At(0x12000, new RowChange(ChangeKind.Delete, Tags, OldRow: Row("x", "1")),
            new RowChange(ChangeKind.Update, Tags, Row("x", "1"), Row("y", "2"))));
        store.Apply(At(0x13000, new RowChange(ChangeKind.Insert, Tags, Row("x", "1"))));
        // Applied after the snapshot: the fourth x.
        store.Apply(At(0x21000, new RowChange(ChangeKind.Insert, Tags, Row("x", "1"))));

        Assert.Equal(
        [
            (ChangeKind.Insert, 1, 1, true), (ChangeKind.Insert, 1, 2, true),
            (ChangeKind.Delete, 2, 1, true), (ChangeKind.Update, 1, 2, true),
            (ChangeKind.Insert, 1, 3, true),
            (ChangeKind.Insert, 1, 4, false),
        ], FeedFromSlot(store));
    }

    [Fact]
    public void The_window_closes_when_the_stream_passes_the_consistent_point_without_a_transaction()
    {
        var store = StoreWithReplayWindow(Row("x", "1"), Row("x", "1"));
        store.Apply(At(0x11000, new RowChange(ChangeKind.Insert, Tags, Row("x", "1"))));
        store.Apply(At(0x12000, new RowChange(ChangeKind.Insert, Tags, Row("x", "1"))));
        // A heartbeat (a message outside any transaction) past the consistent point: nothing below it can still come.
        ((IReplicationTarget)store).Reached(new Lsn(ConsistentPoint.Value + 0x100));

        Assert.Equal([(ChangeKind.Insert, 1, 1, true), (ChangeKind.Insert, 1, 2, true)], FeedFromSlot(store));
    }

    [Fact]
    public void A_replayed_update_with_an_unchanged_toast_value_is_keyed_by_its_complete_row()
    {
        var big = new string('v', 100);
        var store = StoreWithReplayWindow(Row(big, "2"), Row(big, "2"));
        // The consumer had one (big, 1); the window updates it to (big, 2) leaving the TOASTed name out: copy 2 of (big, 2).
        store.Apply(At(0x11000, new RowChange(ChangeKind.Insert, Tags, Row(big, "2"))));
        store.Apply(At(0x12000, new RowChange(ChangeKind.Update, Tags, Row(Unchanged, "2"), Row(big, "1"))));
        store.Apply(At(0x21000, new RowChange(ChangeKind.Delete, Tags, OldRow: Row(big, "2"))));

        var feed = new List<CommittedTransaction>();
        store.Feed.TryReadAfterEnd(SlotConfirmed, 100, feed);
        var update = feed[1].Changes.Single();
        Assert.Equal((1, 2), (update.BeforeCopy, update.AfterCopy));
        Assert.Equal(big, System.Text.Encoding.UTF8.GetString(update.AfterView!.Value.Value(0)));
        Assert.Equal(2, feed[2].Changes.Single().BeforeCopy);
    }
}
