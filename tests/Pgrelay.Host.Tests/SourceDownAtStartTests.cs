using System.Net;
using System.Text.Json;
using Npgsql;
using Pgrelay.Replication.Local;

namespace Pgrelay.Host.Tests;

/// <summary>
/// pgrelay started while its PostgreSQL is down waits for it, as any replication client does: it says why on /readyz,
/// /status and in the log, retries with back-off and comes up when the server does. A source that answers with a mistake
/// (unknown database or role) still stops start-up at once with one line; source-wait bounds the wait.
/// </summary>
public class SourceDownAtStartTests
{
    [Fact]
    public async Task Started_while_PostgreSQL_is_down_it_says_why_waits_and_comes_up_with_the_data_when_PostgreSQL_does()
    {
        await using var cluster = await PrivatePostgresCluster.StartAsync();
        await Sql(cluster, """
            CREATE TABLE t (id int PRIMARY KEY, v text);
            INSERT INTO t SELECT g, 'row ' || g FROM generate_series(1, 100) g;
            CREATE PUBLICATION pub FOR TABLE t;
            """);
        await cluster.StopAsync();

        int httpPort = FreeTcpPort.Next();
        await using var process = PgrelayProcess.Start("run", "--source", cluster.UrlFor("postgres"), "--publication", "pub",
            "--http", $"127.0.0.1:{httpPort}", "--resp", "off", "--memcached", "off");
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{httpPort}"), Timeout = TimeSpan.FromSeconds(30) };

        // Down: not ready, and saying why, while the process keeps trying (at least two attempts).
        var waiting = await Eventually.Get(async () =>
        {
            if (process.HasExited) Assert.Fail($"pgrelay exited ({process.ExitCode}) while PostgreSQL was down\n{process.Output}");
            return await ReadyzAsync(http);
        }, r => r is { Code: HttpStatusCode.ServiceUnavailable } && r.Body.Contains("waiting for the source"), "/readyz to say it waits", 60);
        Assert.Contains("cannot connect", waiting.Body);
        using (var status = JsonDocument.Parse(await http.GetStringAsync("/status")))
        {
            Assert.Equal("reconnecting", status.RootElement.GetProperty("phase").GetString());
            Assert.Contains("cannot connect", status.RootElement.GetProperty("last_error").GetString());
        }
        await Eventually.True(() => process.Stdout.Split('\n').Count(l => l.Contains("start-up failed")) >= 2, "a second attempt", 60);
        Assert.False(process.HasExited, process.Output);

        await cluster.StartStoppedAsync();
        await Sql(cluster, "UPDATE t SET v = 'after the start' WHERE id = 7");
        await Eventually.True(async () => (await ReadyzAsync(http)).Code == HttpStatusCode.OK, "ready once PostgreSQL is up", 120);
        await Eventually.True(async () => (await http.GetStringAsync("/pub/t/7")).Contains("after the start"), "the update served", 60);
        using var page = JsonDocument.Parse(await http.GetStringAsync("/pub/t?limit=1000"));
        Assert.Equal(100, page.RootElement.GetProperty("rows").GetArrayLength());
        Assert.True(await process.StopAsync(), process.Output);
    }

    [Theory]
    [InlineData("nosuchdb", "postgres", "nosuchdb")]     // 3D000
    [InlineData("postgres", "nosuchrole", "nosuchrole")] // 28000
    public async Task A_source_that_answers_with_a_mistake_stops_start_up_at_once_with_one_line(string database, string user, string named)
    {
        await using var cluster = await PrivatePostgresCluster.StartAsync();
        await using var process = PgrelayProcess.Start("run", "--source", cluster.UrlFor(database, user), "--publication", "pub",
            "--http", "off", "--resp", "off", "--memcached", "off");
        Assert.Equal(1, await process.WaitForExitAsync());
        var line = process.Stderr.Trim();
        Assert.DoesNotContain("\n", line);
        Assert.StartsWith("pgrelay: cannot connect", line);
        Assert.Contains(named, line);
    }

    [Fact]
    public async Task Source_wait_bounds_the_wait_and_ends_in_one_line()
    {
        int port = FreeTcpPort.Next();
        await using var process = PgrelayProcess.Start("run", "--source", $"postgres://postgres@127.0.0.1:{port}/postgres", "--publication", "p",
            "--http", "off", "--resp", "off", "--memcached", "off", "--source-wait", "2s");
        Assert.Equal(1, await process.WaitForExitAsync());
        var line = process.Stderr.Trim();
        Assert.DoesNotContain("\n", line);
        Assert.StartsWith("pgrelay: gave up after waiting 2s for the source", line);
        Assert.Contains($"127.0.0.1:{port}", line);
    }

    private static async Task<(HttpStatusCode Code, string Body)> ReadyzAsync(HttpClient http)
    {
        try
        {
            using var response = await http.GetAsync("/readyz");
            return (response.StatusCode, await response.Content.ReadAsStringAsync());
        }
        catch (HttpRequestException e) { return (0, e.Message); }   // not listening yet
    }

    private static async Task Sql(PrivatePostgresCluster cluster, string sql)
    {
        await using var conn = new NpgsqlConnection(cluster.ConnectionString);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, conn);
        await cmd.ExecuteNonQueryAsync();
    }
}
