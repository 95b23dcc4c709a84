using System.Text;
using Pgrelay.Core.Changes;
using Pgrelay.Core.Model;
using Pgrelay.Memcached.Protocol;
using Pgrelay.Memcached.Server;
using Pgrelay.Store;
using Pgrelay.Store.Tables;
using static Pgrelay.Memcached.Tests.TestData;

namespace Pgrelay.Memcached.Tests;

/// <summary>
/// What the fast paths must not change: rendered values are cached per row version but always follow the store,
/// multi-gets pin the latest state with the connection's reused pin, and replies longer than any buffer arrive whole.
/// </summary>
public class RenderingAndPinningTests(MemcachedServerFixture server) : IClassFixture<MemcachedServerFixture>
{
    [Fact]
    public void Gets_of_several_keys_reports_each_rows_lsn_and_snapshot_rows_carry_the_consistent_point()
    {
        using var c = server.Connect();
        c.Send("gets pub.cities.Tulsa/OK pub.users.1 pub.cities.Nowhere/XX pub.inventory.items.A-1\r\n");
        var items = c.ReadValues();
        Assert.Equal(["pub.cities.Tulsa/OK", "pub.users.1", "pub.inventory.items.A-1"], items.Select(i => i.Key));
        Assert.All(items, i => Assert.Equal(0x1000UL, i.Cas));   // NewStore completes its snapshot at 0x1000

        c.Send("mg pub.users.1 c\r\n");
        Assert.Equal("HD c4096", c.ReadLine());
    }

    [Fact]
    public void A_cached_value_follows_updates_deletes_and_reinserts()
    {
        using var c = server.Connect();
        for (int round = 1; round <= 3; round++)
        {
            c.Send("get pub.cities.Salem/OR\r\nmg pub.cities.Salem/OR v s\r\n");   // read twice: the second is a cache hit
            var first = Assert.Single(c.ReadValues()).Value;
            var header = c.ReadLine()!;
            Assert.Equal(first, c.ReadBlock(first.Length));
            Assert.Equal($"VA {first.Length} s{first.Length}", header);

            string population = (200000 + round).ToString();
            server.Store.Apply(Txn(new RowChange(ChangeKind.Update, Cities, Row("Salem", "OR", population))));
            c.Send("get pub.cities.Salem/OR\r\n");
            Assert.Equal($$"""{"name":"Salem","state":"OR","population":{{population}}}""", Assert.Single(c.ReadValues()).Value);
        }

        server.Store.Apply(Txn(new RowChange(ChangeKind.Delete, Cities, OldRow: Row("Salem", "OR", null))));
        c.Send("get pub.cities.Salem/OR\r\n");
        Assert.Empty(c.ReadValues());

        server.Store.Apply(Txn(new RowChange(ChangeKind.Insert, Cities, Row("Salem", "OR", "1"))));
        c.Send("get pub.cities.Salem/OR\r\n");
        Assert.Equal("""{"name":"Salem","state":"OR","population":1}""", Assert.Single(c.ReadValues()).Value);
    }

    [Fact]
    public void Every_multi_get_on_a_connection_pins_the_latest_state()
    {
        using var c = server.Connect();
        for (int round = 0; round < 50; round++)
        {
            string a = (1000 + round).ToString(), b = (2000 + round).ToString();
            server.Store.Apply(Txn(
                new RowChange(ChangeKind.Update, Cities, Row("Austin", "TX", a)),
                new RowChange(ChangeKind.Update, Cities, Row("Boise", "ID", b))));
            c.Send("get pub.cities.Austin/TX pub.cities.Boise/ID\r\n");
            var values = c.ReadValues().Select(v => v.Value).ToArray();
            Assert.Equal([$$"""{"name":"Austin","state":"TX","population":{{a}}}""", $$"""{"name":"Boise","state":"ID","population":{{b}}}"""], values);
        }
    }

    [Fact]
    public void Values_larger_than_any_buffer_and_long_pipelines_arrive_whole_and_in_order()
    {
        // Past 1/1024 of the render cache's budget, so rendered for every read, and far past one output chunk.
        string name = string.Concat(Enumerable.Range(0, 20_000).Select(i => (char)('a' + i % 26))) + "\"é";
        server.Store.Apply(Txn(new RowChange(ChangeKind.Insert, Users, Row("77", name, "t", "1", "{}"))));
        string big = $$"""{"id":77,"name":"{{name.Replace("\"", "\\\"")}}","active":true,"balance":1,"tags":[]}""";

        using var c = server.Connect();
        var pipeline = new StringBuilder();
        for (int i = 0; i < 3000; i++)
            pipeline.Append(i % 100 == 0 ? "get pub.users.77 pub.cities.Tulsa/OK\r\n" : "mg pub.cities.Tulsa/OK k v\r\n");
        c.Send(pipeline.ToString());
        for (int i = 0; i < 3000; i++)
        {
            if (i % 100 == 0)
            {
                Assert.Equal([("pub.users.77", big), ("pub.cities.Tulsa/OK", Tulsa)], c.ReadValues().Select(v => (v.Key, v.Value)));
                continue;
            }
            Assert.Equal($"VA {Tulsa.Length} kpub.cities.Tulsa/OK", c.ReadLine());
            Assert.Equal(Tulsa, c.ReadBlock(Tulsa.Length));
        }
    }

    [Fact]
    public void Connected_clients_counts_open_connections()
    {
        using var a = server.Connect();
        using var b = server.Connect();
        a.Send("mn\r\n");
        b.Send("mn\r\n");
        Assert.Equal("MN", a.ReadLine());
        Assert.Equal("MN", b.ReadLine());
        long open = server.Server.ConnectedClients;
        Assert.True(open >= 2, $"{open} connected");

        b.Dispose();
        // The server notices the close on its own thread: wait for it (a condition, not a timing).
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (server.Server.ConnectedClients >= open && DateTime.UtcNow < deadline) Thread.Sleep(10);
        Assert.Equal(open - 1, server.Server.ConnectedClients);
    }
}

/// <summary>The bounded cache of rendered rows, on its own.</summary>
public class RenderedRowCacheTests
{
    private static RowRef Read(ReplicatedStore store, string key)
    {
        Assert.True(store.TryGetRow(Encoding.UTF8.GetBytes(key), out var row), key);
        return row;
    }

    [Fact]
    public void A_hit_returns_the_same_bytes_without_rendering_and_a_new_version_renders_anew()
    {
        var store = NewStore();
        var cache = new RenderedRowCache(1024 * 1024);
        using var scratch = new ValueBuffer();
        var tulsa = Read(store, "pub.cities.Tulsa/OK");
        Assert.Equal(Tulsa, Encoding.UTF8.GetString(cache.Get(tulsa, scratch)));
        scratch.Clear();
        Assert.Equal(Tulsa, Encoding.UTF8.GetString(cache.Get(tulsa, scratch)));
        Assert.Equal(0, scratch.Length);   // served from the cache: nothing rendered
        long held = cache.Bytes;
        Assert.True(held > Tulsa.Length);

        store.Apply(Txn(new RowChange(ChangeKind.Update, Cities, Row("Tulsa", "OK", "5"))));
        var changed = Read(store, "pub.cities.Tulsa/OK");
        Assert.Equal("""{"name":"Tulsa","state":"OK","population":5}""", Encoding.UTF8.GetString(cache.Get(changed, scratch)));
        // The new version replaced the old one in its slot (both JSON and row are 5 bytes shorter), not added to it.
        Assert.Equal(held - 10, cache.Bytes);
    }

    [Fact]
    public void The_budget_bounds_what_is_kept()
    {
        var store = new ReplicatedStore();
        store.BeginSnapshot([new PublicationSchema("pub", [Users])]);
        store.LoadSnapshotRows(Users, Enumerable.Range(1, 5000).Select(i => Row(i.ToString(), new string('x', i % 300), "t", "1", "{}")).ToList());
        store.CompleteSnapshot(new Lsn(0x1000));

        const long budget = 64 * 1024;
        var cache = new RenderedRowCache(budget);
        using var scratch = new ValueBuffer();
        for (int i = 1; i <= 5000; i++)
        {
            var row = Read(store, $"pub.users.{i}");
            Assert.StartsWith($$"""{"id":{{i}},""", Encoding.UTF8.GetString(cache.Get(row, scratch)));
            Assert.True(cache.Bytes <= budget, $"{cache.Bytes} bytes held");
        }
        Assert.True(cache.Bytes > 0);
    }

    [Fact]
    public void A_zero_budget_renders_every_read()
    {
        var store = NewStore();
        var cache = new RenderedRowCache(0);
        using var scratch = new ValueBuffer();
        var ada = Read(store, "pub.users.1");
        Assert.Equal(Ada, Encoding.UTF8.GetString(cache.Get(ada, scratch)));
        Assert.Equal(Ada, Encoding.UTF8.GetString(cache.Get(ada, scratch)));
        Assert.Equal(0, cache.Bytes);
    }
}

/// <summary>The store's pins as the memcached session uses them: one pin object per connection, pinned again per request.</summary>
public class StorePinReuseTests
{
    [Fact]
    public void A_released_pin_pins_again_at_the_latest_state()
    {
        var store = NewStore();
        var pin = store.Pin();
        Assert.True(pin.IsHeld);
        Assert.Equal(store.VisibleLsn, pin.Lsn);
        pin.Dispose();
        pin.Dispose();   // harmless
        Assert.False(pin.IsHeld);

        var txn = Txn(new RowChange(ChangeKind.Update, Cities, Row("Tulsa", "OK", "9")));
        store.Apply(txn);
        store.Repin(pin);
        Assert.True(pin.IsHeld);
        Assert.Equal(txn.EndLsn, pin.Lsn);
        Assert.True(store.TryGetRow("pub.cities.Tulsa/OK"u8, pin, out var row));
        Assert.Equal(txn.EndLsn, row.VersionLsn);

        Assert.Throws<InvalidOperationException>(() => store.Repin(pin));   // still held
        Assert.Throws<ArgumentException>(() => NewStore().Repin(pin));      // another store's pin
        pin.Dispose();
    }

    [Fact]
    public void A_held_pin_keeps_its_versions_and_releasing_it_lets_them_go()
    {
        var store = NewStore();
        var pin = store.Pin();
        var before = pin.Lsn;
        store.Apply(Txn(new RowChange(ChangeKind.Update, Cities, Row("Boise", "ID", "1"))));
        store.Maintain();
        Assert.True(store.TryGetRow("pub.cities.Boise/ID"u8, pin, out var old));
        Assert.Equal(before, old.VersionLsn);
        pin.Dispose();

        store.Repin(pin);   // at the latest state now
        Assert.True(store.TryGetRow("pub.cities.Boise/ID"u8, pin, out var current));
        Assert.True(current.VersionLsn > before);
        pin.Dispose();
    }
}
