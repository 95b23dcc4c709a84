using System.Net;
using System.Text.Json;
using Npgsql;
using Pgrelay.Configuration;
using Pgrelay.Hosting;
using Pgrelay.Replication.Local;

namespace Pgrelay.Host.Tests;

/// <summary>The whole product against a real PostgreSQL: replication into the store, served over HTTP.</summary>
public class RunTests
{
    [Fact]
    public async Task Serves_the_snapshot_then_follows_committed_changes()
    {
        await using var cluster = await PrivatePostgresCluster.StartAsync();
        await Sql(cluster, """
            CREATE TABLE cities (name text, state text, population int, PRIMARY KEY (name, state));
            INSERT INTO cities VALUES ('Tulsa', 'OK', 413066), ('Salem', 'OR', 175535);
            CREATE PUBLICATION pub FOR TABLE cities;
            """);
        int httpPort = FreeTcpPort.Next();
        var settings = SettingsLoader.Load(new Dictionary<string, string?>
        {
            ["source"] = cluster.UrlFor("postgres"),
            ["publication"] = "pub",
            ["http"] = $"127.0.0.1:{httpPort}",
            ["resp"] = "off",
            ["memcached"] = "off",
            ["heartbeat"] = "1s",
        }, new Dictionary<string, string?>());
        await using var app = PgrelayHost.Build(settings);
        await app.StartAsync();
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{httpPort}") };

        await Eventually.Get(() => http.GetAsync("/readyz"), r => r.StatusCode == HttpStatusCode.OK, "readiness");
        var tulsa = JsonDocument.Parse(await http.GetStringAsync("/pub/cities/Tulsa/OK")).RootElement;
        Assert.Equal(413066, tulsa.GetProperty("population").GetInt32());

        await Sql(cluster, "UPDATE cities SET population = 1 WHERE name = 'Tulsa'; DELETE FROM cities WHERE name = 'Salem'; INSERT INTO cities VALUES ('Nome', 'AK', 3699)");
        await Eventually.Get(() => http.GetAsync("/pub/cities/Nome/AK"), r => r.StatusCode == HttpStatusCode.OK, "the insert");
        tulsa = JsonDocument.Parse(await http.GetStringAsync("/pub/cities/Tulsa/OK")).RootElement;
        Assert.Equal(1, tulsa.GetProperty("population").GetInt32());   // same transaction as the insert: already visible
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync("/pub/cities/Salem/OR")).StatusCode);

        var metrics = await http.GetStringAsync("/metrics");
        Assert.Contains("pgrelay_", metrics);
        await app.StopAsync();
    }

    [Fact]
    public async Task Demo_serves_the_grades_sample_over_http_redis_and_memcached_and_shows_updates_live()
    {
        int httpPort = FreeTcpPort.Next(), respPort = FreeTcpPort.Next(), memcachedPort = FreeTcpPort.Next();
        await using var demo = PgrelayProcess.Start("demo", "--http", $"127.0.0.1:{httpPort}", "--resp", $"127.0.0.1:{respPort}",
            "--memcached", $"127.0.0.1:{memcachedPort}");
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{httpPort}") };
        await Eventually.Get(async () =>
        {
            if (demo.HasExited) throw new InvalidOperationException("demo exited: " + demo.Stderr);
            try { return (await http.GetAsync("/readyz")).StatusCode; }
            catch (HttpRequestException) { return HttpStatusCode.ServiceUnavailable; }
        }, s => s == HttpStatusCode.OK, "demo readiness", 120);
        var betty = JsonDocument.Parse(await http.GetStringAsync("/pub/grades/234-56-7890")).RootElement;
        Assert.Equal("Rubble", betty.GetProperty("last_name").GetString());
        Assert.Equal("C-", betty.GetProperty("grade").GetString());
        Assert.Contains("curl http://127.0.0.1", demo.Stderr);
        Assert.Contains($"redis-cli -h 127.0.0.1 -p {respPort} HGETALL pub.grades.234-56-7890", demo.Stderr);

        // Exactly the command the demo prints.
        var hash = await Tool.RunAsync("redis-cli", "-h", "127.0.0.1", "-p", $"{respPort}", "HGETALL", "pub.grades.234-56-7890");
        var fields = hash.ReplaceLineEndings("\n").TrimEnd().Split('\n');   // redis-cli prints field, value, field, value…
        Assert.Equal("Rubble", fields[Array.IndexOf(fields, "last_name") + 1]);
        Assert.Equal("C-", fields[Array.IndexOf(fields, "grade") + 1]);
        var json = await Tool.RunAsync("memccat", $"--servers=127.0.0.1:{memcachedPort}", "pub.grades.234-56-7890");
        Assert.Contains("\"last_name\":\"Rubble\"", json);

        // A live subscriber, then the update the demo suggests, through the psql URL it prints.
        await using var subscriber = Tool.Start("redis-cli", "-h", "127.0.0.1", "-p", $"{respPort}", "PSUBSCRIBE", "__keyspace@0__:pub.grades.*");
        await Eventually.True(() => subscriber.Stdout.Contains("psubscribe"), "redis-cli subscribed");
        var url = System.Text.RegularExpressions.Regex.Match(demo.Stderr, @"psql '([^']+)'").Groups[1].Value;
        Assert.StartsWith("postgres", url);
        await using (var connection = new NpgsqlConnection(Replication.Connection.SourceOptions.Parse(url).ConnectionString()))
        {
            await connection.OpenAsync();
            await using var update = new NpgsqlCommand("UPDATE grades SET grade = 'A+' WHERE ssn = '234-56-7890'", connection);
            Assert.Equal(1, await update.ExecuteNonQueryAsync());
        }
        await Eventually.True(async () => (await Tool.RunAsync("redis-cli", "-h", "127.0.0.1", "-p", $"{respPort}", "HGET", "pub.grades.234-56-7890", "grade")).Trim() == "A+",
            "redis-cli HGET sees the update");
        await Eventually.True(() => subscriber.Stdout.Contains("__keyspace@0__:pub.grades.234-56-7890"), "the keyspace notification");
        await Eventually.True(() => demo.Stderr.Contains("update pub.grades.234-56-7890"), "the demo prints the change");
        Assert.Equal("A+", JsonDocument.Parse(await http.GetStringAsync("/pub/grades/234-56-7890")).RootElement.GetProperty("grade").GetString());

        Assert.True(await demo.StopAsync(), "the demo did not stop within 60 s of SIGTERM\n" + demo.Output);
        // Stopping removes the private PostgreSQL too: nothing listens on its port any more.
        await using var gone = new NpgsqlConnection(Replication.Connection.SourceOptions.Parse(url).ConnectionString());
        await Assert.ThrowsAnyAsync<Exception>(() => gone.OpenAsync());
    }

    private static async Task Sql(PrivatePostgresCluster cluster, string sql)
    {
        await using var connection = new NpgsqlConnection(cluster.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }
}
