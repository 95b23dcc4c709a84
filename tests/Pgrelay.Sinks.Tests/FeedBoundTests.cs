using Pgrelay.Store;
using Pgrelay.Store.Feed;
using Pgrelay.Testing;

namespace Pgrelay.Sinks.Tests;

/// <summary>The change feed is bounded by the bytes it keeps alive, not only by counts (issue 10 item 15).</summary>
public abstract class FeedBoundTests(PostgresFixture pg)
{
    public sealed class PG14(Postgres14Fixture pg) : FeedBoundTests(pg), IClassFixture<Postgres14Fixture>;
    public sealed class PG15(PostgresFixture pg) : FeedBoundTests(pg), IClassFixture<PostgresFixture>;
    public sealed class PG16(Postgres16Fixture pg) : FeedBoundTests(pg), IClassFixture<Postgres16Fixture>;
    public sealed class PG17(Postgres17Fixture pg) : FeedBoundTests(pg), IClassFixture<Postgres17Fixture>;
    public sealed class PG18(Postgres18Fixture pg) : FeedBoundTests(pg), IClassFixture<Postgres18Fixture>;

    [Fact]
    public async Task Updates_of_a_big_row_keep_the_change_feed_within_its_byte_bound()
    {
        const long bound = 16L * 1024 * 1024;
        var source = await pg.NewDatabaseAsync("src");
        await pg.ExecuteAsync(source, """
            CREATE TABLE blob (id int PRIMARY KEY, n int, body text);
            CREATE PUBLICATION pub FOR TABLE blob;
            INSERT INTO blob VALUES (1, 0, repeat('x', 1024 * 1024));
            """);
        var store = new ReplicatedStore();
        store.Feed.MaxRetainedBytes = bound;
        await using var run = ReplicationRun.Start(pg, source, store);
        await run.WaitForStreamingAsync();

        // 120 transactions, each a new 1 MB version of the row: half change the body, half leave it alone (unchanged TOAST,
        // which the store fills in from the previous version). Each keeps its before and after images alive while retained.
        await using (var conn = await pg.OpenAsync(source))
            for (int i = 0; i < 120; i++)
            {
                var sql = i % 2 == 0 ? $"UPDATE blob SET body = repeat(chr(65 + {i % 26}), 1024 * 1024), n = {i}" : $"UPDATE blob SET n = {i}";
                await using var cmd = new Npgsql.NpgsqlCommand(sql, conn);
                await cmd.ExecuteNonQueryAsync();
            }
        await run.SyncAsync();
        await run.WaitAsync(() => store.TryGetRow("pub.blob.1"u8, out var row) && System.Text.Encoding.UTF8.GetString(row.View.Value(1)) == "119", "the last update");

        var retained = new List<CommittedTransaction>();
        Assert.Equal(FeedRead.Transaction, store.Feed.TryReadAfterEnd(store.Feed.OldestResumableEndLsn, int.MaxValue, retained));
        // What the retained transactions keep alive: every distinct row image they reference.
        var images = new HashSet<byte[]>(ReferenceEqualityComparer.Instance);
        foreach (var change in retained.SelectMany(t => t.Changes))
        {
            if (change.Before is { } b) images.Add(b);
            if (change.After is { } a) images.Add(a);
        }
        long kept = images.Sum(i => (long)i.Length);
        Assert.True(kept <= bound, $"the feed keeps {kept / 1024 / 1024} MB alive in {retained.Count} transactions; the bound is {bound / 1024 / 1024} MB");
        Assert.InRange(store.Feed.RetainedBytes, kept, bound);
        Assert.InRange(retained.Count, 5, 16);   // about 8 (two 1 MB images each); the newest is always kept
        Assert.Equal(store.Feed.NewestEndLsn, retained[^1].EndLsn);
    }
}
