using static Pgrelay.Memcached.Tests.TestData;

namespace Pgrelay.Memcached.Tests;

/// <summary>libmemcached's own tools (memccat, memcstat, memcdump) against pgrelay.</summary>
public class ClientToolTests(MemcachedServerFixture server) : IClassFixture<MemcachedServerFixture>
{
    private const string Tools = "libmemcached-tools";
    private string Servers => $"--servers=127.0.0.1:{server.Port}";

    [Fact]
    public void Memccat_prints_rows_as_json()
    {
        var (exit, stdout, stderr) = ExternalProcess.Run("memccat", Tools, Servers, "pub.cities.Tulsa/OK", "pub.users.1");
        Assert.True(exit == 0, stderr);
        Assert.Equal([Tulsa, Ada], stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    [Fact]
    public void Memccat_reports_a_missing_key_as_not_found()
    {
        var (exit, stdout, _) = ExternalProcess.Run("memccat", Tools, Servers, "pub.cities.Tulsa/OK", "pub.cities.Nowhere/XX");
        Assert.NotEqual(0, exit);
        Assert.Equal([Tulsa], stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    [Fact]
    public void Memcstat_reads_stats_and_version()
    {
        var (exit, stdout, stderr) = ExternalProcess.Run("memcstat", Tools, Servers);
        Assert.True(exit == 0, stderr);
        Assert.Contains($"Server: 127.0.0.1 ({server.Port})", stdout);
        Assert.Contains("version: 1.6.21-pgrelay", stdout);
        Assert.Contains($"curr_items: {server.Store.TotalRows}", stdout);

        (exit, stdout, stderr) = ExternalProcess.Run("memcstat", Tools, Servers, "--server-version");
        Assert.True(exit == 0, stderr);
        // libmemcached parses the version into numbers (major.minor.micro), so the suffix must not get in its way.
        Assert.Contains($"127.0.0.1:{server.Port} 1.6.21", stdout + stderr);

        (exit, stdout, stderr) = ExternalProcess.Run("memcstat", Tools, Servers, "items");
        Assert.True(exit == 0, stderr);
        Assert.Contains("items:1:pgrelay_table: pub.cities", stdout);
    }

    [Fact]
    public void Memcdump_lists_the_keys()
    {
        var (exit, stdout, stderr) = ExternalProcess.Run("memcdump", Tools, Servers);
        Assert.True(exit == 0, stderr);
        var keys = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Contains("pub.cities.Tulsa/OK", keys);
        Assert.Contains("pub.users.2", keys);
        Assert.Contains("pub.inventory.items.A-1", keys);
    }
}

/// <summary>
/// Where wording matters, pgrelay answers as a real memcached does: the same request goes to both, holding the
/// same value under the same key, and the replies are compared byte for byte (CAS values aside).
/// </summary>
public class WordingMatchesMemcachedTests(MemcachedServerFixture server, RealMemcachedFixture memcached)
    : IClassFixture<MemcachedServerFixture>, IClassFixture<RealMemcachedFixture>
{
    private const string Key = "pub.cities.Tulsa/OK";
    private static readonly string Missing = "pub.cities.Nowhere/XX";
    private static readonly string Key251 = new('k', 251);

    public static TheoryData<string> Requests =>
    [
        "bogus\r\n",
        "\r\n",
        "GET x\r\n",
        "get\r\n",
        $"get {Key}\r\n",
        $"get {Missing}\r\n",
        $"get {Key} {Missing} {Key}\r\n",
        $"get {Key251}\r\n",
        $"gets {Missing}\r\n",
        "mn\r\n",
        $"mg {Key}\r\n",
        $"mg {Key} v\r\n",
        $"mg {Key} k v s t f O123\r\n",
        $"mg {Key} q\r\n",
        $"mg {Key} O1 q k\r\n",
        $"mg {Missing}\r\n",
        $"mg {Missing} k O12 v c\r\n",
        $"mg {Missing} q k\r\nmn\r\n",
        $"mg {Key} z\r\n",
        $"mg {Key} v v\r\n",
        $"mg {Key} O{new string('1', 40)}\r\n",
        "mg\r\n",
        $"mg {Key251} v\r\n",
        "mg !!! b v\r\n",
        "set k 0 0\r\n",
        "set k 0 0 abc\r\n",
        "set k 0 0 -1\r\n",
        "cas k 0 0 1\r\n",
        "incr k\r\n",
        "incr k x\r\n",
        "delete\r\n",
        "delete k 5\r\n",
        "touch k\r\n",
        "flush_all 1 2 3\r\n",
        "ms\r\n",
        "ms k\r\n",
        "ms k abc\r\n",
        "md\r\n",
        "me\r\n",
        "verbosity\r\n",
        "verbosity x\r\n",
        "verbosity 1\r\n",
        "verbosity 1 noreply\r\nmn\r\n",
        "gat 10\r\n",
        "stats nonsense\r\n",
        "stats cachedump 199 0\r\n",
    ];

    [Theory]
    [MemberData(nameof(Requests))]
    public void Replies_match_memcached(string request)
    {
        using (var seed = memcached.Connect())
        {
            seed.Send($"set {Key} 0 0 {TestData.Tulsa.Length}\r\n{TestData.Tulsa}\r\n");
            Assert.Equal("STORED", seed.ReadLine());
        }
        Assert.Equal(Exchange(memcached.Connect(), request), Exchange(server.Connect(), request));
    }

    /// <summary>Sends the request, then a version probe, and returns everything before the probe's reply.</summary>
    private static string Exchange(RawClient client, string request)
    {
        using (client)
        {
            client.Send(request + "version\r\n");
            var lines = new List<string>();
            while (client.ReadLine() is { } line && !line.StartsWith("VERSION ")) lines.Add(line);
            return string.Join("\n", lines);
        }
    }
}
