using System.Text;
using Pgrelay.Core.Changes;
using Pgrelay.Store.Tables;
using static Pgrelay.Store.Tests.StoreBuilder;

namespace Pgrelay.Store.Tests;

/// <summary>Rows held in pages: superseded versions are compacted away while every read (current, pinned, SCAN) stays
/// exact, and reading allocates nothing.</summary>
public class PagedRowTests
{
    private const int Keys = 10, Rounds = 200;

    private static string Value(int round, int key) => $"{round}:{key}:" + new string((char)('a' + key), 4000);

    private static void Update(ReplicatedStore store, int round)
    {
        var changes = new RowChange[Keys];
        for (int k = 0; k < Keys; k++) changes[k] = new RowChange(ChangeKind.Update, Cities, Row($"city{k}", "OK", Value(round, k)));
        store.Apply(Txn(changes));
    }

    [Fact]
    public void Superseded_versions_are_compacted_away_and_every_read_stays_exact()
    {
        var initial = Enumerable.Range(0, Keys).Select(k => Row($"city{k}", "OK", "0")).ToArray();
        var store = NewStore(initial);
        var table = store.FindPublication("pub")!.FindTable("cities")!;
        var pin = store.Pin();
        // A SCAN started before the compaction and finished after it still returns every key.
        var scanned = new List<RowRef>();
        ulong cursor = table.Scan(0, 3, pin, scanned);
        for (int round = 1; round <= Rounds; round++) Update(store, round);
        long grown = table.MemoryBytes;
        Assert.True(grown > Keys * Rounds * 4000L, $"{grown} bytes after the updates");

        store.Maintain();   // the pin keeps every version above its LSN: nothing a pinned read needs goes
        for (int k = 0; k < Keys; k++)
        {
            Assert.Equal("0", PinnedValue(store, $"pub.cities.city{k}/OK", pin));
            Assert.Equal(Value(Rounds, k), Get(store, $"pub.cities.city{k}/OK", 2));
        }
        while (cursor != 0) cursor = table.Scan(cursor, 3, pin, scanned);
        Assert.Equal(Enumerable.Range(0, Keys).Select(k => $"city{k}/OK").Order(),
            scanned.Select(r => r.RowKeyString()).Distinct().Order());
        Assert.All(scanned, r => Assert.Equal("0", Encoding.UTF8.GetString(r.View.Value(2))));
        pin.Dispose();

        store.Maintain();   // now only the newest versions are needed
        long compacted = table.MemoryBytes;
        Assert.True(compacted < grown / 10, $"{compacted} bytes held after compaction, {grown} before");
        for (int k = 0; k < Keys; k++) Assert.Equal(Value(Rounds, k), Get(store, $"pub.cities.city{k}/OK", 2));
        Assert.Equal(Keys, store.TotalRows);

        // Writes after the compaction go on from the new pages.
        Update(store, Rounds + 1);
        store.Apply(Txn(new RowChange(ChangeKind.Delete, Cities, OldRow: Row("city0", "OK", null))));
        Assert.Null(Get(store, "pub.cities.city0/OK", 2));
        Assert.Equal(Value(Rounds + 1, 1), Get(store, "pub.cities.city1/OK", 2));
        Assert.Equal(Keys - 1, store.TotalRows);
    }

    [Fact]
    public void Reading_a_row_from_a_page_allocates_nothing()
    {
        var store = NewStore(Row("Tulsa", "OK", "1"), Row("Salem", "OR", "2"));
        store.Apply(Txn(new RowChange(ChangeKind.Update, Cities, Row("Tulsa", "OK", "3"))));
        var key = Encoding.UTF8.GetBytes("pub.cities.Tulsa/OK");
        using var pin = store.Pin();
        for (int i = 0; i < 100; i++) { store.TryGetRow(key, out _); store.TryGetRow(key, pin, out _); }
        long before = GC.GetAllocatedBytesForCurrentThread();
        int length = 0;
        for (int i = 0; i < 1000; i++)
        {
            if (store.TryGetRow(key, out var row)) length += row.View.Value(2).Length;
            if (store.TryGetRow(key, pin, out var pinned)) length += pinned.View.Value(2).Length;
        }
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.Equal(2000, length);
    }

    [Fact]
    public void A_batch_of_encoded_rows_loads_into_pages_without_an_array_per_row()
    {
        const int rows = 20_000;
        var batch = new Core.Rows.RowBatch();
        var builder = new Core.Rows.RowBuilder();
        var store = new ReplicatedStore();
        store.BeginSnapshot([new Core.Model.PublicationSchema("pub", [Cities])]);
        store.ExpectSnapshotRows(Cities, rows);
        void Fill(int from, int to)
        {
            batch.Clear();
            for (int i = from; i < to; i++)
            {
                builder.AddText($"city{i}");
                builder.AddText(i % 5 == 0 ? null : "OK");
                builder.AddText(i.ToString());
                builder.BuildInto(batch);
            }
        }
        Fill(0, 100);
        store.LoadSnapshotRows(Cities, batch);   // warm-up: code paths and the first pages
        Fill(100, rows);
        long before = GC.GetAllocatedBytesForCurrentThread();
        store.LoadSnapshotRows(Cities, batch);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        store.CompleteSnapshot(new Core.Model.Lsn(0x100));
        // What the load allocated is at most the pages it filled (the index was sized before), not an array per row
        // (24 bytes of header alone, 480 KB for these rows).
        long held = store.TotalMemoryBytes;
        Assert.True(allocated < held, $"{allocated} bytes allocated, {held} held");
        Assert.Equal(rows, store.TotalRows);
        Assert.Equal("5", Get(store, "pub.cities.city5/%FF", 2));
        Assert.Equal("19999", Get(store, "pub.cities.city19999/OK", 2));
        Assert.Equal("42", Get(store, "pub.cities.city42/OK", 2));
    }

    private static string? PinnedValue(ReplicatedStore store, string key, Snapshots.StorePin pin) =>
        store.TryGetRow(Encoding.UTF8.GetBytes(key), pin, out var row) ? Encoding.UTF8.GetString(row.View.Value(2)) : null;
}
