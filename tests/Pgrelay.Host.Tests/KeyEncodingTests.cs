using System.Net;
using System.Text.Json;
using Npgsql;
using Pgrelay.Configuration;
using Pgrelay.Hosting;
using Pgrelay.Replication.Local;

namespace Pgrelay.Host.Tests;

/// <summary>
/// The key convention through every protocol, against a real PostgreSQL: composite keys whose parts hold '/' and '%',
/// identical rows of a table without primary key, NULL key parts, and a table whose publication publishes inserts only.
/// RESP (redis-cli), memcached (memccat) and HTTP must name the same rows by the same keys, and list every copy.
/// </summary>
public class KeyEncodingTests
{
    [Fact]
    public async Task Every_protocol_serves_escaped_keys_and_identical_rows_as_postgresql_holds_them()
    {
        await using var cluster = await PrivatePostgresCluster.StartAsync();
        await Sql(cluster, """
            CREATE TABLE pairs (p text, q text, v int, PRIMARY KEY (p, q));
            CREATE TABLE bag (a int, b text);
            ALTER TABLE bag REPLICA IDENTITY FULL;
            CREATE TABLE log (id int PRIMARY KEY, msg text);
            ALTER TABLE log REPLICA IDENTITY NOTHING;
            INSERT INTO pairs VALUES ('x/y', 'z', 1), ('x', 'y/z', 2), ('100%', '', 3);
            INSERT INTO bag VALUES (1, 'x'), (1, 'x'), (1, 'x'), (2, NULL);
            INSERT INTO log VALUES (1, 'a');
            CREATE PUBLICATION pub FOR TABLE pairs, bag;
            CREATE PUBLICATION ins FOR TABLE log WITH (publish = 'insert');
            """);
        int httpPort = FreeTcpPort.Next(), respPort = FreeTcpPort.Next(), memcachedPort = FreeTcpPort.Next();
        var settings = SettingsLoader.Load(new Dictionary<string, string?>
        {
            ["source"] = cluster.UrlFor("postgres"),
            ["publication"] = "pub,ins",
            ["http"] = $"127.0.0.1:{httpPort}",
            ["resp"] = $"127.0.0.1:{respPort}",
            ["memcached"] = $"127.0.0.1:{memcachedPort}",
            ["heartbeat"] = "1s",
        }, new Dictionary<string, string?>());
        await using var app = PgrelayHost.Build(settings);
        await app.StartAsync();
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{httpPort}") };
        await Eventually.Get(() => http.GetAsync("/readyz"), r => r.StatusCode == HttpStatusCode.OK, "readiness");
        Task<string> Cli(params string[] args) => Tool.RunAsync("redis-cli", ["-h", "127.0.0.1", "-p", $"{respPort}", .. args]);
        async Task<string> CliLine(params string[] args) => (await Cli(args)).Trim();
        async Task<string[]> Scan(string pattern) =>
            [.. (await Cli("--scan", "--pattern", pattern)).Split('\n', StringSplitOptions.RemoveEmptyEntries).Order(StringComparer.Ordinal)];

        // RESP: one key per row, parts escaped; HGETALL, EXISTS and SCAN MATCH agree.
        Assert.Equal("1", await CliLine("HGET", "pub.pairs.x%2Fy/z", "v"));
        Assert.Equal("2", await CliLine("HGET", "pub.pairs.x/y%2Fz", "v"));
        Assert.Equal("3", await CliLine("HGET", "pub.pairs.100%25/", "v"));
        Assert.Equal("0", await CliLine("EXISTS", "pub.pairs.x/y/z"));
        Assert.Equal("3", await CliLine("EXISTS", "pub.bag.1/x", "pub.bag.1/x/2", "pub.bag.1/x/3", "pub.bag.1/x/4", "pub.bag.1/x/1"));
        Assert.Equal("a\n2", (await CliLine("HGETALL", "pub.bag.2/%FF")).ReplaceLineEndings("\n"));
        Assert.Equal(["pub.bag.1/x", "pub.bag.1/x/2", "pub.bag.1/x/3", "pub.bag.2/%FF"], await Scan("pub.bag.*"));
        Assert.Equal(["pub.pairs.x%2Fy/z", "pub.pairs.x/y%2Fz"], await Scan("pub.pairs.x*"));

        // memcached: the same keys.
        Assert.Contains("\"v\":1", await Tool.RunAsync("memccat", $"--servers=127.0.0.1:{memcachedPort}", "pub.pairs.x%2Fy/z"));
        Assert.Contains("\"v\":2", await Tool.RunAsync("memccat", $"--servers=127.0.0.1:{memcachedPort}", "pub.pairs.x/y%2Fz"));
        Assert.Contains("\"b\":null", await Tool.RunAsync("memccat", $"--servers=127.0.0.1:{memcachedPort}", "pub.bag.2/%FF"));
        Assert.Contains("\"b\":\"x\"", await Tool.RunAsync("memccat", $"--servers=127.0.0.1:{memcachedPort}", "pub.bag.1/x/3"));

        // HTTP: a segment per key part, decoded like any URL segment; the copy number is one more segment.
        Assert.Equal(1, await Field(http, "/pub/pairs/x%2Fy/z", "v"));
        Assert.Equal(2, await Field(http, "/pub/pairs/x/y%2Fz", "v"));
        Assert.Equal(3, await Field(http, "/pub/pairs/100%25/", "v"));
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/pub/bag/1/x/3")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync("/pub/bag/1/x/4")).StatusCode);
        Assert.Equal(JsonValueKind.Null, JsonDocument.Parse(await http.GetStringAsync("/pub/bag/2/%FF")).RootElement.GetProperty("b").ValueKind);
        var (rows, nexts) = await PagesAsync(http, "/pub/bag", 1);
        Assert.Equal(4, rows);
        Assert.Equal(["1/x", "1/x/2", "1/x/3"], nexts);   // paging order: the keys' byte order, every copy listed

        // /status says which table may be stale, and why.
        var status = JsonDocument.Parse(await http.GetStringAsync("/status")).RootElement;
        var log = Table(status, "ins", "log");
        Assert.True(log.GetProperty("may_be_stale").GetBoolean());
        Assert.Equal(["update", "delete", "truncate"], log.GetProperty("unreplicated_changes").EnumerateArray().Select(e => e.GetString()));
        Assert.False(Table(status, "pub", "bag").GetProperty("primary_key").GetBoolean());
        Assert.False(Table(status, "pub", "pairs").GetProperty("may_be_stale").GetBoolean());

        // Changes: the deleted copy is the highest one, and the notification names exactly it.
        await using var subscriber = Tool.Start("redis-cli", "-h", "127.0.0.1", "-p", $"{respPort}", "PSUBSCRIBE", "__keyspace@0__:pub.*");
        await Eventually.True(() => subscriber.Stdout.Contains("psubscribe"), "redis-cli subscribed");
        await Sql(cluster, """
            DELETE FROM pairs WHERE p = 'x/y';
            DELETE FROM bag WHERE ctid = (SELECT min(ctid) FROM bag WHERE a = 1);
            INSERT INTO log VALUES (2, 'b');
            UPDATE log SET msg = 'c' WHERE id = 1;
            """);
        await Eventually.True(async () => await CliLine("HGET", "ins.log.2", "msg") == "b", "the insert into log");
        Assert.Equal("0", await CliLine("EXISTS", "pub.bag.1/x/3", "pub.pairs.x%2Fy/z"));
        Assert.Equal("3", await CliLine("EXISTS", "pub.bag.1/x", "pub.bag.1/x/2", "pub.pairs.x/y%2Fz"));
        Assert.Equal(["pub.bag.1/x", "pub.bag.1/x/2", "pub.bag.2/%FF"], await Scan("pub.bag.*"));
        await Eventually.True(() => subscriber.Stdout.Contains("__keyspace@0__:pub.bag.1/x/3"), "the notification for the deleted copy");
        Assert.Contains("__keyspace@0__:pub.pairs.x%2Fy/z", subscriber.Stdout);
        Assert.Equal("a", await CliLine("HGET", "ins.log.1", "msg"));   // stale, as /status says: the update is never sent
        await app.StopAsync();
    }

    private static async Task<int> Field(HttpClient http, string path, string field)
    {
        var response = await http.GetAsync(path);
        Assert.True(response.IsSuccessStatusCode, $"{path}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty(field).GetInt32();
    }

    /// <summary>Follows "next" from page to page; returns the rows seen and every "next" key.</summary>
    private static async Task<(int Rows, List<string> Nexts)> PagesAsync(HttpClient http, string path, int limit)
    {
        int rows = 0;
        var nexts = new List<string>();
        string? after = null;
        do
        {
            var url = $"{path}?limit={limit}" + (after is null ? "" : "&after=" + Uri.EscapeDataString(after));
            var page = JsonDocument.Parse(await http.GetStringAsync(url)).RootElement;
            rows += page.GetProperty("rows").GetArrayLength();
            after = page.GetProperty("next").GetString();
            if (after is not null) nexts.Add(after);
        } while (after is not null && nexts.Count < 100);
        return (rows, nexts);
    }

    private static JsonElement Table(JsonElement status, string publication, string table) =>
        status.GetProperty("publications").EnumerateArray().Single(p => p.GetProperty("name").GetString() == publication)
            .GetProperty("tables").EnumerateArray().Single(t => t.GetProperty("name").GetString() == table);

    private static async Task Sql(PrivatePostgresCluster cluster, string sql)
    {
        await using var connection = new NpgsqlConnection(cluster.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }
}
