using System.Text.Json;
using Pgrelay.Configuration;
using Pgrelay.Hosting;
using Pgrelay.Testing;

namespace Pgrelay.Sinks.Tests;

/// <summary>The sinks inside the real host (PgrelayHost): what /metrics and /status say about them.</summary>
public sealed class HostTests(PostgresFixture pg) : IClassFixture<PostgresFixture>, IDisposable
{
    private readonly string _state = Directory.CreateTempSubdirectory("pgrelay-host-sink").FullName;

    private async Task<(Microsoft.AspNetCore.Builder.WebApplication App, HttpClient Http)> StartAsync(string source, params string[] sinks)
    {
        int port = FreeTcpPort.Next();
        var settings = SettingsLoader.Load(new Dictionary<string, string?>
        {
            ["source"] = pg.Cluster.UrlFor(source),
            ["publication"] = "pub",
            ["http"] = $"127.0.0.1:{port}",
            ["cache-servers"] = "off",
            ["heartbeat"] = "1s",
            ["state-dir"] = _state,
            ["sink"] = string.Join('\n', sinks),
        }, new Dictionary<string, string?>());
        var app = PgrelayHost.Build(settings);
        await app.StartAsync();
        return (app, new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") });
    }

    /// <summary>Prometheus sample lines of one metric: labels text -> value.</summary>
    private static Dictionary<string, double> Samples(string text, string metric) => text.Split('\n')
        .Where(l => l.StartsWith(metric + "{", StringComparison.Ordinal) || l.StartsWith(metric + " ", StringComparison.Ordinal))
        .ToDictionary(l => l[..l.LastIndexOf(' ')], l => double.Parse(l[(l.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture));

    [Fact]
    public async Task Sink_metrics_reach_the_metrics_endpoint()
    {
        var source = await pg.NewDatabaseAsync("src");
        await pg.ExecuteAsync(source, """
            CREATE TABLE items (id int PRIMARY KEY, v text);
            CREATE PUBLICATION pub FOR TABLE items;
            INSERT INTO items SELECT i, 'v' || i FROM generate_series(1, 20) i;
            """);
        var path = Path.Combine(_state, "changes.jsonl");
        var (app, http) = await StartAsync(source, $"file:{path}");
        await using (app)
        using (http)
        {
            int Lines(string op) => File.Exists(path) ? File.ReadAllLines(path).Count(l => l.Contains($"\"op\":\"{op}\"")) : 0;
            await PostgresHarness.WaitUntilAsync(() => Lines("r") == 20, TimeSpan.FromMinutes(2), "the initial load in the file");
            await pg.ExecuteAsync(source, "UPDATE items SET v = 'changed' WHERE id <= 5");
            await PostgresHarness.WaitUntilAsync(() => Lines("u") == 5,
                TimeSpan.FromMinutes(2), "the updates in the file");
            string metrics = "";
            for (var deadline = DateTime.UtcNow.AddMinutes(1); Samples(metrics, "pgrelay_sink_events_delivered_total").Values.Sum() < 26; await Task.Delay(100))
            {
                Assert.True(DateTime.UtcNow < deadline, "the delivered events are not in /metrics:\n" + metrics);
                metrics = await http.GetStringAsync("/metrics");
            }
            // The load's truncate marker, its 20 rows, the 5 updates.
            Assert.Equal(26, Samples(metrics, "pgrelay_sink_events_delivered_total")["pgrelay_sink_events_delivered_total{sink=\"file\",type=\"file\"}"]);
            Assert.Equal(20, Samples(metrics, "pgrelay_sink_rows_loaded_total").Values.Single());
            Assert.Equal(2, Samples(metrics, "pgrelay_sink_state").Values.Single());   // streaming
            Assert.Equal(0, Samples(metrics, "pgrelay_sink_consecutive_failures").Values.Single());
            Assert.True(Samples(metrics, "pgrelay_sink_checkpoint_lsn").Values.Single() > 0);
            await app.StopAsync();
        }
    }

    [Fact]
    public async Task A_sink_that_cannot_deliver_until_its_target_changes_is_failed_not_retrying_in_status_and_metrics()
    {
        var source = await pg.NewDatabaseAsync("src");
        var target = await pg.NewDatabaseAsync("dst");
        await pg.ExecuteAsync(source, "CREATE TABLE t (id int PRIMARY KEY, v text); CREATE PUBLICATION pub FOR TABLE t; INSERT INTO t VALUES (1, 'x')");
        await pg.ExecuteAsync(target, "CREATE TABLE t (id int PRIMARY KEY, v text CHECK (v <> 'refused'))");
        var (app, http) = await StartAsync(source, $"postgres:{pg.Cluster.UrlFor(target)}");
        await using (app)
        using (http)
        {
            await PostgresHarness.WaitUntilAsync(() => pg.ScalarAsync<long>(target, "SELECT count(*) FROM t").GetAwaiter().GetResult() == 1,
                TimeSpan.FromMinutes(2), "the initial load");
            await pg.ExecuteAsync(source, "UPDATE t SET v = 'refused'");
            JsonElement sink = default;
            for (var deadline = DateTime.UtcNow.AddMinutes(1); sink.ValueKind == JsonValueKind.Undefined || sink.GetProperty("state").GetString() != "failed"; await Task.Delay(100))
            {
                Assert.True(DateTime.UtcNow < deadline, "the sink never showed as failed: " + sink);
                using var status = JsonDocument.Parse(await http.GetStringAsync("/status"));
                sink = status.RootElement.GetProperty("sinks").GetProperty("checkpoints")[0].Clone();
            }
            Assert.Contains("23514", sink.GetProperty("last_error").GetString());
            Assert.True(sink.GetProperty("permanent_failures").GetInt64() >= 1);
            var metrics = await http.GetStringAsync("/metrics");
            Assert.Equal(4, Samples(metrics, "pgrelay_sink_state").Values.Single());
            Assert.True(Samples(metrics, "pgrelay_sink_permanent_failures_total").Values.Single() >= 1);
            await app.StopAsync();
        }
    }

    public void Dispose() => Directory.Delete(_state, recursive: true);
}
