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
            for (var deadline = DateTime.UtcNow.AddMinutes(1); Samples(metrics, "pgrelay_sink_events_delivered_total").Values.Sum() < 25; await Task.Delay(100))
            {
                Assert.True(DateTime.UtcNow < deadline, "the delivered events are not in /metrics:\n" + metrics);
                metrics = await http.GetStringAsync("/metrics");
            }
            Assert.Equal(25, Samples(metrics, "pgrelay_sink_events_delivered_total")["pgrelay_sink_events_delivered_total{sink=\"file\",type=\"file\"}"]);
            Assert.Equal(20, Samples(metrics, "pgrelay_sink_rows_loaded_total").Values.Single());
            Assert.Equal(2, Samples(metrics, "pgrelay_sink_state").Values.Single());   // streaming
            Assert.Equal(0, Samples(metrics, "pgrelay_sink_consecutive_failures").Values.Single());
            Assert.True(Samples(metrics, "pgrelay_sink_checkpoint_lsn").Values.Single() > 0);
            await app.StopAsync();
        }
    }

    public void Dispose() => Directory.Delete(_state, recursive: true);
}
