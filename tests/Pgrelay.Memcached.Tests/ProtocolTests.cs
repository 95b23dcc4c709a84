using System.Text;
using Pgrelay.Core.Changes;
using static Pgrelay.Memcached.Tests.TestData;

namespace Pgrelay.Memcached.Tests;

/// <summary>The text and meta protocols over a raw socket, against a real listener and store.</summary>
public class ProtocolTests(MemcachedServerFixture server) : IClassFixture<MemcachedServerFixture>
{
    private const string ReadOnly = "SERVER_ERROR pgrelay is a read-only replica of PostgreSQL; write to the database";

    [Fact]
    public void Get_returns_the_row_as_typed_json()
    {
        using var c = server.Connect();
        c.Send("get pub.cities.Tulsa/OK\r\n");
        var items = c.ReadValues();
        var item = Assert.Single(items);
        Assert.Equal("pub.cities.Tulsa/OK", item.Key);
        Assert.Equal(Tulsa, item.Value);
        Assert.Null(item.Cas);
    }

    [Fact]
    public void Values_render_every_type_and_tables_outside_public()
    {
        using var c = server.Connect();
        c.Send("get pub.users.1 pub.inventory.items.A-1\r\n");
        var items = c.ReadValues();
        Assert.Equal([("pub.users.1", Ada), ("pub.inventory.items.A-1", Sku)], items.Select(i => (i.Key, i.Value)));
    }

    [Fact]
    public void Multi_get_returns_hits_in_request_order_and_skips_misses()
    {
        using var c = server.Connect();
        c.Send("get pub.cities.Salem/OR nope pub.cities.Tulsa/OK pub.cities.Nowhere/XX other.cities.Tulsa/OK pub.cities.Austin/TX\r\n");
        var keys = c.ReadValues().Select(i => i.Key);
        Assert.Equal(["pub.cities.Salem/OR", "pub.cities.Tulsa/OK", "pub.cities.Austin/TX"], keys);
    }

    [Fact]
    public void Get_of_only_misses_is_just_END_and_line_endings_are_lenient()
    {
        using var c = server.Connect();
        c.Send("get pub.cities.Nowhere/XX\r\nget   pub.cities.Nowhere/XX   \nget pub.nothing\r\n");
        Assert.Equal("END", c.ReadLine());
        Assert.Equal("END", c.ReadLine());
        Assert.Equal("END", c.ReadLine());
    }

    [Fact]
    public void Gets_cas_is_the_version_lsn_and_changes_when_the_row_does()
    {
        using var c = server.Connect();
        c.Send("gets pub.cities.Boise/ID\r\n");
        var before = Assert.Single(c.ReadValues());
        Assert.NotNull(before.Cas);
        Assert.NotEqual(0UL, before.Cas);

        var txn = Txn(new RowChange(ChangeKind.Update, Cities, Row("Boise", "ID", "240000")));
        server.Store.Apply(txn);

        c.Send("gets pub.cities.Boise/ID\r\n");
        var after = Assert.Single(c.ReadValues());
        Assert.Equal("""{"name":"Boise","state":"ID","population":240000}""", after.Value);
        Assert.Equal(txn.EndLsn.Value, after.Cas);
        Assert.NotEqual(before.Cas, after.Cas);

        c.Send("mg pub.cities.Boise/ID c\r\n");
        Assert.Equal($"HD c{txn.EndLsn.Value}", c.ReadLine());
    }

    [Fact]
    public void Deleted_and_inserted_rows_follow_the_store()
    {
        using var c = server.Connect();
        server.Store.Apply(Txn(
            new RowChange(ChangeKind.Insert, Cities, Row("Reno", "NV", "264165")),
            new RowChange(ChangeKind.Delete, Cities, OldRow: Row("Portland", "OR", null))));
        c.Send("get pub.cities.Reno/NV pub.cities.Portland/OR\r\n");
        Assert.Equal(["pub.cities.Reno/NV"], c.ReadValues().Select(i => i.Key));
        c.Send("mg pub.cities.Portland/OR v\r\n");
        Assert.Equal("EN", c.ReadLine());
    }

    [Fact]
    public void Pipelined_commands_are_answered_in_order()
    {
        using var c = server.Connect();
        var pipeline = new StringBuilder();
        for (int i = 0; i < 200; i++)
            pipeline.Append("get pub.cities.Tulsa/OK\r\nmg pub.cities.Nowhere/XX\r\nmn\r\nversion\r\n");
        c.Send(pipeline.ToString());
        for (int i = 0; i < 200; i++)
        {
            Assert.Equal(Tulsa, Assert.Single(c.ReadValues()).Value);
            Assert.Equal("EN", c.ReadLine());
            Assert.Equal("MN", c.ReadLine());
            Assert.StartsWith("VERSION 1.6.", c.ReadLine());
        }
    }

    [Fact]
    public void Commands_split_across_packets_are_reassembled()
    {
        using var c = server.Connect();
        var bytes = Encoding.ASCII.GetBytes("get pub.cities.Tulsa/OK pub.cities.Salem/OR\r\nmg pub.cities.Tulsa/OK s v\r\n");
        foreach (var b in bytes)
        {
            c.Send([b]);
        }
        Assert.Equal(2, c.ReadValues().Count);
        Assert.Equal($"VA {Tulsa.Length} s{Tulsa.Length}", c.ReadLine());
        Assert.Equal(Tulsa, c.ReadBlock(Tulsa.Length));
    }

    [Fact]
    public void Meta_get_flags_follow_protocol_txt()
    {
        using var c = server.Connect();
        c.Send("mg pub.cities.Tulsa/OK\r\n");
        Assert.Equal("HD", c.ReadLine());

        c.Send("mg pub.cities.Tulsa/OK k v c s t f O123\r\n");
        var line = c.ReadLine()!;
        var parts = line.Split(' ');
        Assert.Equal(["VA", Tulsa.Length.ToString(), "kpub.cities.Tulsa/OK"], parts[..3]);
        Assert.StartsWith("c", parts[3]);
        Assert.Equal([$"s{Tulsa.Length}", "t-1", "f0", "O123"], parts[4..]);
        Assert.Equal(Tulsa, c.ReadBlock(Tulsa.Length));

        c.Send("mg pub.cities.Tulsa/OK O1 q k\r\n");
        Assert.Equal("HD O1 kpub.cities.Tulsa/OK", c.ReadLine());

        c.Send("mg pub.cities.Nowhere/XX v\r\n");
        Assert.Equal("EN", c.ReadLine());
        c.Send("mg pub.cities.Nowhere/XX k O12 v c\r\n");
        Assert.Equal("EN kpub.cities.Nowhere/XX O12", c.ReadLine());

        // q: misses are left out; mn marks the end of a quiet batch.
        c.Send("mg pub.cities.Nowhere/XX q v\r\nmg pub.cities.Salem/OR q k\r\nmn\r\n");
        Assert.Equal("HD kpub.cities.Salem/OR", c.ReadLine());
        Assert.Equal("MN", c.ReadLine());
    }

    [Fact]
    public void Meta_get_with_a_base64_key_returns_the_key_encoded()
    {
        using var c = server.Connect();
        var encoded = Convert.ToBase64String(Encoding.UTF8.GetBytes("pub.cities.Tulsa/OK"));
        c.Send($"mg {encoded} b k v\r\n");
        Assert.Equal($"VA {Tulsa.Length} k{encoded} b", c.ReadLine());
        Assert.Equal(Tulsa, c.ReadBlock(Tulsa.Length));
        c.Send("mg !!notbase64 b v\r\n");
        Assert.Equal("CLIENT_ERROR error decoding key", c.ReadLine());
    }

    [Fact]
    public void Meta_get_rejects_bad_flags()
    {
        using var c = server.Connect();
        c.Send("mg pub.cities.Tulsa/OK z\r\n");
        Assert.Equal("CLIENT_ERROR invalid flag", c.ReadLine());
        c.Send("mg pub.cities.Tulsa/OK v v\r\n");
        Assert.Equal("CLIENT_ERROR duplicate flag", c.ReadLine());
        c.Send($"mg pub.cities.Tulsa/OK O{new string('1', 40)}\r\n");
        Assert.Equal("CLIENT_ERROR opaque token too long", c.ReadLine());
        c.Send("mg\r\n");
        Assert.Equal("ERROR", c.ReadLine());
        c.Send($"mg {new string('a', 251)} v\r\n");
        Assert.Equal("CLIENT_ERROR bad command line format", c.ReadLine());
        c.Send("me pub.cities.Tulsa/OK\r\nme pub.cities.Nowhere/XX\r\n");
        Assert.StartsWith("ME pub.cities.Tulsa/OK exp=-1 la=0 cas=", c.ReadLine());
        Assert.Equal("EN", c.ReadLine());
    }

    [Fact]
    public void Storage_commands_are_refused_and_their_data_blocks_skipped()
    {
        using var c = server.Connect();
        // The data blocks hold text that would be a command if it were parsed as one.
        c.Send("set pub.cities.Tulsa/OK 0 0 9\r\nget x y z\r\n" +
               "add k 1 0 0\r\n\r\n" +
               "replace k 0 0 3\r\nabc\r\n" +
               "append k 0 0 3\r\nabc\r\n" +
               "prepend k 0 0 3\r\nabc\r\n" +
               "cas k 0 0 3 12345\r\nabc\r\n" +
               "ms k 11 T0 F5\r\nmn\r\nversion\r\n" +
               "get pub.cities.Tulsa/OK\r\n");
        for (int i = 0; i < 7; i++) Assert.Equal(ReadOnly, c.ReadLine());
        Assert.Equal(Tulsa, Assert.Single(c.ReadValues()).Value);
    }

    [Fact]
    public void A_data_block_arriving_in_pieces_is_skipped_across_reads()
    {
        using var c = server.Connect();
        var block = new string('x', 200_000);
        c.Send("set big 0 0 200000\r\n" + block[..1000]);
        Assert.Equal(ReadOnly, c.ReadLine());
        c.Send(block[1000..150_000]);
        c.Send(block[150_000..] + "\r\nmn\r\n");
        Assert.Equal("MN", c.ReadLine());
    }

    [Fact]
    public void Noreply_writes_stay_silent_but_are_still_skipped()
    {
        using var c = server.Connect();
        c.Send("set k 0 0 5 noreply\r\nhello\r\n" +
               "cas k 0 0 1 7 noreply\r\nx\r\n" +
               "incr k 1 noreply\r\ndecr k 1 noreply\r\ndelete k noreply\r\ntouch k 10 noreply\r\nflush_all noreply\r\n" +
               "flush_all 0 noreply\r\nverbosity 1 noreply\r\nmn\r\n");
        Assert.Equal("MN", c.ReadLine());
    }

    [Fact]
    public void Other_writes_are_refused()
    {
        using var c = server.Connect();
        string[] commands =
        [
            "incr k 1", "decr k 1", "delete k", "delete k 0", "touch k 10", "flush_all", "flush_all 10",
            "md pub.cities.Tulsa/OK", "md pub.cities.Tulsa/OK q", "ma pub.cities.Tulsa/OK", "gat 10 pub.cities.Tulsa/OK", "gats 10 k",
        ];
        c.Send(string.Concat(commands.Select(x => x + "\r\n")));
        foreach (var _ in commands) Assert.Equal(ReadOnly, c.ReadLine());
        c.Send("get pub.cities.Tulsa/OK\r\n");
        Assert.Single(c.ReadValues());
    }

    [Fact]
    public void Malformed_commands_get_memcached_errors_and_the_connection_goes_on()
    {
        using var c = server.Connect();
        string key251 = new('k', 251);
        (string Command, string Reply)[] cases =
        [
            ("bogus", "ERROR"),
            ("", "ERROR"),
            ("GET pub.cities.Tulsa/OK", "ERROR"),
            ("get", "ERROR"),
            ($"get {key251}", "CLIENT_ERROR bad command line format"),
            ($"get pub.cities.Tulsa/OK {key251}", "CLIENT_ERROR bad command line format"),
            ("set k 0 0", "ERROR"),
            ("set k 0 0 abc", "CLIENT_ERROR bad command line format"),
            ("set k 0 0 -1", "CLIENT_ERROR bad command line format"),
            ("set k x 0 1", "CLIENT_ERROR bad command line format"),
            ($"set {key251} 0 0 1", "CLIENT_ERROR bad command line format"),
            ("cas k 0 0 1", "ERROR"),
            ("cas k 0 0 1 x", "CLIENT_ERROR bad command line format"),
            ("incr k", "ERROR"),
            ("incr k x", "CLIENT_ERROR invalid numeric delta argument"),
            ("delete", "ERROR"),
            ("ms k", "CLIENT_ERROR bad command line format"),
            ("ms k abc", "CLIENT_ERROR bad command line format"),
            ("verbosity", "ERROR"),
            ("verbosity x", "CLIENT_ERROR bad command line format"),
            ("delete k 5", "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]"),
            ("gat 10", "END"),
            ("me", "CLIENT_ERROR bad command line format"),
            ("md", "ERROR"),
            ("ms", "ERROR"),
            ("stats nonsense", "ERROR"),
            ("shutdown", "ERROR: shutdown not enabled"),
        ];
        foreach (var (command, reply) in cases)
        {
            c.Send(command + "\r\n");
            Assert.Equal(reply, c.ReadLine());
        }
        c.Send("get pub.cities.Tulsa/OK\r\n");
        Assert.Equal(Tulsa, Assert.Single(c.ReadValues()).Value);
    }

    [Fact]
    public void A_multi_get_may_name_any_number_of_keys_as_in_memcached()
    {
        using var c = server.Connect();
        c.Send("get " + string.Join(' ', Enumerable.Repeat("k", 5000)) + "\r\n");
        Assert.Equal("END", c.ReadLine());
        c.Send("get " + string.Join(' ', Enumerable.Repeat("pub.cities.Tulsa/OK", 5000)) + "\r\n");
        Assert.Equal(5000, c.ReadValues().Count);
    }

    [Fact]
    public void A_get_line_beyond_pgrelays_bound_is_refused_and_closed()
    {
        using var c = server.Connect();
        c.Send("get " + string.Join(' ', Enumerable.Repeat("pub.cities.Tulsa/OK", 60_000)));   // 1.2 MB, no newline yet
        Assert.Equal("CLIENT_ERROR line too long", c.ReadLine());
        Assert.True(c.IsClosedByServer());
    }

    [Fact]
    public void An_oversized_line_closes_only_that_connection()
    {
        using var other = server.Connect();
        other.Send("mn\r\n");
        Assert.Equal("MN", other.ReadLine());

        // As memcached 1.6: 2048 bytes without a newline that are not a get end the connection without a word.
        using var bad = server.Connect();
        bad.Send(new string('x', 5000));
        Assert.True(bad.IsClosedByServer());

        // A long line whose newline came with it is an ordinary (bad) command.
        using var longLine = server.Connect();
        longLine.Send("verbosity " + new string('1', 3000) + "\r\n");
        Assert.Equal("CLIENT_ERROR bad command line format", longLine.ReadLine());
        longLine.Send("mn\r\n");
        Assert.Equal("MN", longLine.ReadLine());

        other.Send("get pub.cities.Tulsa/OK\r\n");
        Assert.Equal(Tulsa, Assert.Single(other.ReadValues()).Value);
        using var fresh = server.Connect();
        fresh.Send("mn\r\n");
        Assert.Equal("MN", fresh.ReadLine());
    }

    [Fact]
    public void Binary_garbage_does_not_hurt_the_server()
    {
        using (var c = server.Connect())
        {
            var garbage = new byte[4096];
            new Random(42).NextBytes(garbage);
            try
            {
                c.Send([.. garbage, .. "\r\nmn\r\n"u8]);
                while (c.ReadLine() is { } line && line != "MN")
                    Assert.True(line is "ERROR" || line.StartsWith("CLIENT_ERROR") || line.StartsWith("SERVER_ERROR"), line);
            }
            catch (IOException)
            {
                // closed by the server mid-way: fine
            }
        }
        using var fresh = server.Connect();
        fresh.Send("mn\r\n");
        Assert.Equal("MN", fresh.ReadLine());
    }

    [Fact]
    public void Version_verbosity_and_quit()
    {
        using var c = server.Connect();
        c.Send("version\r\nverbosity 1\r\nquit\r\nversion\r\n");
        Assert.Equal("VERSION 1.6.21-pgrelay", c.ReadLine());
        Assert.Equal("OK", c.ReadLine());
        Assert.True(c.IsClosedByServer());
    }

    [Fact]
    public void Stats_report_connections_gets_and_items()
    {
        using var c = server.Connect();
        c.Send("get pub.cities.Tulsa/OK pub.cities.Nowhere/XX\r\n");
        c.ReadValues();
        c.Send("stats\r\n");
        var stats = c.ReadStats();
        foreach (var name in new[] { "pid", "uptime", "time", "version", "curr_connections", "total_connections", "cmd_get", "get_hits", "get_misses", "bytes", "curr_items", "rusage_user", "threads" })
            Assert.True(stats.ContainsKey(name), name);
        Assert.Equal("1.6.21-pgrelay", stats["version"]);
        Assert.Equal(Environment.ProcessId.ToString(), stats["pid"]);
        Assert.True(long.Parse(stats["cmd_get"]) >= 2);
        Assert.True(long.Parse(stats["get_hits"]) >= 1);
        Assert.True(long.Parse(stats["get_misses"]) >= 1);
        Assert.True(long.Parse(stats["curr_connections"]) >= 1);
        Assert.Equal(server.Store.TotalRows.ToString(), stats["curr_items"]);
        Assert.Matches(@"^\d+\.\d{6}$", stats["rusage_user"]);

        c.Send("stats items\r\n");
        var items = c.ReadStats();
        Assert.Equal("pub.cities", items["items:1:pgrelay_table"]);
        Assert.Equal("pub.users", items["items:2:pgrelay_table"]);
        Assert.Equal("pub.inventory.items", items["items:3:pgrelay_table"]);
        Assert.Equal("2", items["items:2:number"]);
        Assert.Equal("1", items["items:3:number"]);

        c.Send("stats settings\r\n");
        var settings = c.ReadStats();
        Assert.Equal(server.Port.ToString(), settings["tcpport"]);
        Assert.Equal("yes", settings["pgrelay_read_only"]);

        c.Send("stats cachedump 3 0\r\n");
        Assert.Equal($"ITEM pub.inventory.items.A-1 [{Sku.Length} b; 0 s]", c.ReadLine());
        Assert.Equal("END", c.ReadLine());
        c.Send("stats cachedump 99 0\r\n");
        Assert.Equal("CLIENT_ERROR Illegal slab id", c.ReadLine());
    }
}

/// <summary>Connection limits on a server of their own.</summary>
public class ConnectionLimitTests(SmallServerFixture server) : IClassFixture<SmallServerFixture>
{
    /// <summary>What a real memcached (maxconns 40) sends a connection beyond its limit before closing it.</summary>
    private static byte[] RealMemcachedRefusal()
    {
        using var memcached = new RealMemcachedFixture(["-c", "40"]);
        var admitted = new List<RawClient>();
        try
        {
            for (int i = 0; i < 40; i++)
            {
                var c = memcached.Connect();
                admitted.Add(c);
                c.Send("version\r\n");
                if (c.ReadLine() is { } line && line.StartsWith("VERSION ")) continue;
                break;
            }
            // The last one was refused: a fresh one beyond the limit, read whole.
            using var refused = memcached.Connect();
            return refused.ReadToEnd();
        }
        finally
        {
            foreach (var c in admitted) c.Dispose();
        }
    }

    [Fact]
    public void Connections_beyond_the_limit_are_told_and_closed()
    {
        using var a = server.Connect();
        using var b = server.Connect();
        a.Send("mn\r\n");
        b.Send("mn\r\n");
        Assert.Equal("MN", a.ReadLine());
        Assert.Equal("MN", b.ReadLine());

        using (var c = server.Connect())
            Assert.Equal(RealMemcachedRefusal(), c.ReadToEnd());   // told, then closed, byte for byte as memcached 1.6
        a.Send("get pub.cities.Tulsa/OK\r\n");
        Assert.Single(a.ReadValues());
    }
}

public class GracefulStopTests
{
    [Fact]
    public async Task A_graceful_stop_closes_idle_clients_instead_of_waiting_for_them()
    {
        var server = new MemcachedServerFixture();
        await server.InitializeAsync();
        try
        {
            using var idle = server.Connect();
            idle.Send("version\r\n");
            Assert.StartsWith("VERSION ", idle.ReadLine());
            // The server's shutdown timeout is 5 minutes: only connections that end by themselves let the stop finish here.
            await server.StopAsync().WaitAsync(TimeSpan.FromSeconds(60));
            Assert.True(idle.IsClosedByServer());
        }
        finally
        {
            await server.DisposeAsync();
        }
    }
}
