using Pgrelay.Core.Changes;
using Pgrelay.Http.Changes;
using static Pgrelay.Http.Tests.TestData;

namespace Pgrelay.Http.Tests;

/// <summary>The per-stream cursor without HTTP: catch-up, the switch to live, and the bounded live queue.</summary>
public class ChangeCursorTests
{
    private static readonly TimeSpan Short = TimeSpan.FromMilliseconds(1);

    private static Transaction Insert(string name) => Txn(new RowChange(ChangeKind.Insert, Cities, Row(name, "1", "1")));

    [Fact]
    public async Task Catches_up_then_follows_live_without_gap_or_duplicate()
    {
        var store = ReadyStore();
        using var cursor = new ChangeCursor(store.Feed, store.Feed.NewestLsn, liveQueueCapacity: 16);
        var early = new[] { Insert("a"), Insert("b") };
        foreach (var t in early) store.Apply(t);

        foreach (var t in early)
        {
            var step = await cursor.NextAsync(Short, CancellationToken.None);
            Assert.Equal(CursorStepKind.Transaction, step.Kind);
            Assert.Equal(t.CommitLsn, step.Transaction!.CommitLsn);
        }
        Assert.Equal(CursorStepKind.Idle, (await cursor.NextAsync(Short, CancellationToken.None)).Kind);

        var live = new[] { Insert("c"), Insert("d") };
        foreach (var t in live) store.Apply(t);
        foreach (var t in live)
            Assert.Equal(t.CommitLsn, (await cursor.NextAsync(Short, CancellationToken.None)).Transaction!.CommitLsn);
        Assert.Equal(CursorStepKind.Idle, (await cursor.NextAsync(Short, CancellationToken.None)).Kind);
        Assert.Equal(live[^1].CommitLsn, cursor.Position);
    }

    [Fact]
    public async Task A_reader_a_whole_queue_behind_is_told_to_disconnect()
    {
        var store = ReadyStore();
        using var cursor = new ChangeCursor(store.Feed, store.Feed.NewestLsn, liveQueueCapacity: 2);
        Assert.Equal(CursorStepKind.Idle, (await cursor.NextAsync(Short, CancellationToken.None)).Kind);   // now live
        for (int i = 0; i < 5; i++) store.Apply(Insert("x" + i));
        Assert.Equal(CursorStepKind.Overflowed, (await cursor.NextAsync(Short, CancellationToken.None)).Kind);
    }

    [Fact]
    public async Task Disposing_stops_listening()
    {
        var store = ReadyStore();
        var cursor = new ChangeCursor(store.Feed, store.Feed.NewestLsn, liveQueueCapacity: 1);
        await cursor.NextAsync(Short, CancellationToken.None);
        cursor.Dispose();
        for (int i = 0; i < 3; i++) store.Apply(Insert("y" + i));   // would overflow a listening cursor; must not throw
    }
}
