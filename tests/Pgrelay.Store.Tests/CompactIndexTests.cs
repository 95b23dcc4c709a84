using System.Text;
using Pgrelay.Core.Changes;
using Pgrelay.Core.Model;
using Pgrelay.Core.Rows;
using Pgrelay.Store.Tables;
using static Pgrelay.Store.Tests.StoreBuilder;

namespace Pgrelay.Store.Tests;

/// <summary>The key index is sized to its rows (any capacity, not a power of two), and SCAN stays exact while it grows.</summary>
public class CompactIndexTests
{
    private static ReplicatedStore Load(int rows, long estimate)
    {
        var batch = new RowBatch();
        var builder = new RowBuilder();
        var store = new ReplicatedStore();
        store.BeginSnapshot([new PublicationSchema("pub", [Cities])]);
        store.ExpectSnapshotRows(Cities, estimate);
        for (int i = 0; i < rows; i++)
        {
            builder.AddText($"city{i}");
            builder.AddText("OK");
            builder.AddText(i.ToString());
            builder.BuildInto(batch);
        }
        store.LoadSnapshotRows(Cities, batch);
        store.CompleteSnapshot(new Lsn(0x100));
        return store;
    }

    [Fact]
    public void A_snapshot_whose_estimate_is_right_gets_an_index_of_ten_bytes_a_row()
    {
        // 100k rows: a power-of-two index with 25 % headroom (and 12.5 % for the estimate) took 2^18 slots, 21 B a row.
        const int rows = 100_000;
        var store = Load(rows, rows);
        var table = store.FindPublication("pub")!.FindTable("cities")!;
        double perRow = (double)table.IndexBytes / rows;
        Assert.True(perRow <= 10.5, $"{perRow:0.00} index bytes per row");
        Assert.Equal(rows, store.TotalRows);
        for (int i = 0; i < rows; i += 997) Assert.Equal(i.ToString(), Get(store, $"pub.cities.city{i}/OK", 2));
    }

    [Fact]
    public void A_short_estimate_grows_the_index_and_every_row_is_found()
    {
        const int rows = 30_000;
        var store = Load(rows, rows / 3);
        var table = store.FindPublication("pub")!.FindTable("cities")!;
        Assert.Equal(rows, store.TotalRows);
        for (int i = 0; i < rows; i++) Assert.Equal(i.ToString(), Get(store, $"pub.cities.city{i}/OK", 2));
        Assert.Null(Get(store, "pub.cities.city30000/OK", 2));
        double perRow = (double)table.IndexBytes / rows;
        Assert.True(perRow <= 8.0 * 100 / 85 * 1.5 + 0.1, $"{perRow:0.00} index bytes per row");
    }

    [Fact]
    public void A_scan_across_growth_deletes_and_reinserts_returns_each_key_present_throughout_exactly_once()
    {
        var store = NewStore([.. Enumerable.Range(0, 50).Select(i => Row($"base{i}", "OK", i.ToString()))]);
        var table = store.FindPublication("pub")!.FindTable("cities")!;
        var seen = new List<RowRef>();
        ulong cursor = 0;
        int step = 0;
        do
        {
            using (var pin = store.Pin()) cursor = table.Scan(cursor, 3, pin, seen);
            // Between the first steps the index grows from 64 slots to thousands (8000 keys come), then keys go.
            var changes = new List<RowChange>();
            if (step < 200)
                for (int k = 0; k < 40; k++) changes.Add(new RowChange(ChangeKind.Insert, Cities, Row($"new{step}_{k}", "OK", "1")));
            else if (step < 400)
                for (int k = 0; k < 20; k++) changes.Add(new RowChange(ChangeKind.Delete, Cities, OldRow: Row($"new{step - 200}_{k}", "OK", null)));
            if (changes.Count > 0) store.Apply(Txn([.. changes]));
            step++;
        } while (cursor != 0 && step < 100_000);
        Assert.Equal(0UL, cursor);
        var keys = seen.Select(r => r.RowKeyString()).ToList();
        Assert.Equal(keys.Count, keys.Distinct().Count());
        Assert.Equal(Enumerable.Range(0, 50).Select(i => $"base{i}/OK").Order(), keys.Where(k => k.StartsWith("base")).Order());
    }

    [Fact]
    public void A_scan_from_any_cursor_ends_and_a_full_scan_returns_every_key_once()
    {
        var store = Load(5_000, 5_000);
        var table = store.FindPublication("pub")!.FindTable("cities")!;
        using var pin = store.Pin();
        foreach (ulong start in new[] { 1UL, 12345UL, ulong.MaxValue, (1UL << 24) - 1, 1UL << 40 })
        {
            var some = new List<RowRef>();
            ulong next = table.Scan(start, 10, pin, some);
            for (int guard = 0; next != 0 && guard < 1_000_000; guard++) next = table.Scan(next, 10, pin, some);
            Assert.Equal(0UL, next);
        }
        var all = new List<RowRef>();
        ulong cursor = 0;
        do cursor = table.Scan(cursor, 7, pin, all); while (cursor != 0);
        Assert.Equal(5_000, all.Count);
        Assert.Equal(5_000, all.Select(r => r.RowKeyString()).Distinct().Count());
        Assert.Equal("4999", Encoding.UTF8.GetString(all.Single(r => r.RowKeyString() == "city4999/OK").View.Value(2)));
    }
}
