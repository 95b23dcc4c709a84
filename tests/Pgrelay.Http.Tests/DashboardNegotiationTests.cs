using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Pgrelay.Http.Status;
using static Pgrelay.Http.Tests.TestData;

namespace Pgrelay.Http.Tests;

/// <summary>GET / answers browsers with the dashboard page and everyone else with the JSON status document.</summary>
public class DashboardNegotiationTests
{
    private const string ChromeAccept = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8";

    [Theory]
    [InlineData(ChromeAccept)]
    [InlineData("text/html")]
    [InlineData("application/json;q=0.5, text/html")]
    public async Task Browsers_get_the_dashboard(string accept)
    {
        await using var server = await RelayServer.StartAsync(ReadyStore());
        var response = await GetAsync(server, "/", accept);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/html", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains("Accept", response.Headers.Vary);
        string html = await response.Content.ReadAsStringAsync();
        Assert.Contains("<title>pgrelay dashboard</title>", html);
        // Self-contained: nothing is loaded from anywhere but pgrelay.
        Assert.DoesNotContain("http://", html.Replace("http://www.w3.org/2000/svg", ""));
        Assert.DoesNotContain("https://", html);
        Assert.DoesNotContain("<script src", html);
        Assert.DoesNotContain("<link", html);
        Assert.Contains("default-src 'self'", response.Headers.GetValues("Content-Security-Policy").Single());
    }

    [Theory]
    [InlineData(null)]
    [InlineData("*/*")]                                   // curl
    [InlineData("application/json")]
    [InlineData("text/html;q=0.5, application/json")]
    [InlineData("application/json, text/html")]           // equal quality: the first listed wins
    public async Task Everyone_else_gets_json(string? accept)
    {
        await using var server = await RelayServer.StartAsync(ReadyStore(Row("Tulsa", "OK", "1")));
        var response = await GetAsync(server, "/", accept);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal("pub", json.RootElement.GetProperty("publications")[0].GetProperty("name").GetString());
        Assert.False(json.RootElement.TryGetProperty("lag_history", out _));   // only on request
    }

    [Fact]
    public async Task Status_lists_clients_per_protocol_and_says_when_no_sinks_are_configured()
    {
        await using var server = await RelayServer.StartAsync(ReadyStore(), configure: services =>
            services.AddSingleton<IProtocolConnectionCounter>(new FixedCounter("redis", 3)));
        using var json = JsonDocument.Parse(await server.Client.GetStringAsync("/status"));
        var clients = json.RootElement.GetProperty("clients").EnumerateArray()
            .ToDictionary(c => c.GetProperty("protocol").GetString()!, c => c.GetProperty("connections").GetInt64());
        Assert.Equal(3, clients["redis"]);
        Assert.Equal(0, clients["http-sse"]);
        Assert.False(clients.ContainsKey("memcached"));   // not listening: not listed
        var sinks = json.RootElement.GetProperty("sinks");
        Assert.False(sinks.GetProperty("configured").GetBoolean());
        Assert.Equal(0, sinks.GetProperty("checkpoints").GetArrayLength());
    }

    [Fact]
    public async Task Status_reports_sink_checkpoints()
    {
        await using var server = await RelayServer.StartAsync(ReadyStore(), configure: services =>
            services.AddSingleton<ISinkCheckpointSource>(new FixedSinks(new SinkCheckpoint("audit", "webhook", new Core.Model.Lsn(0x900), "failed", 2, "connection refused"))));
        using var json = JsonDocument.Parse(await server.Client.GetStringAsync("/status"));
        var sinks = json.RootElement.GetProperty("sinks");
        Assert.True(sinks.GetProperty("configured").GetBoolean());
        var checkpoint = sinks.GetProperty("checkpoints")[0];
        Assert.Equal("audit", checkpoint.GetProperty("name").GetString());
        Assert.Equal("webhook", checkpoint.GetProperty("kind").GetString());
        Assert.Equal("0/900", checkpoint.GetProperty("acknowledged_lsn").GetString());
        Assert.Equal("failed", checkpoint.GetProperty("state").GetString());
        Assert.Equal(2, checkpoint.GetProperty("failures").GetInt64());
        Assert.Equal("connection refused", checkpoint.GetProperty("last_error").GetString());
    }

    [Fact]
    public async Task Status_returns_lag_history_after_a_given_moment()
    {
        var history = new LagHistory();
        var t0 = DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_000);
        for (int i = 0; i < 4; i++) history.Record(new LagSample(t0.AddSeconds(i), i * 0.5, (ulong)i * 1000));
        await using var server = await RelayServer.StartAsync(ReadyStore(), configure: services => services.AddSingleton(history));

        // Oldest first as [unix ms, seconds, bytes]; the sampler's own samples since start-up follow ours.
        using (var all = JsonDocument.Parse(await server.Client.GetStringAsync("/status?history_after=0")))
        {
            var samples = all.RootElement.GetProperty("lag_history").EnumerateArray().Select(s => s.GetRawText()).ToList();
            Assert.Equal(["[1700000000000,0,0]", "[1700000001000,0.5,1000]", "[1700000002000,1,2000]", "[1700000003000,1.5,3000]"], samples[..4]);
        }
        using (var newer = JsonDocument.Parse(await server.Client.GetStringAsync("/status?history_after=1700000002000")))
            Assert.Equal("[1700000003000,1.5,3000]", newer.RootElement.GetProperty("lag_history")[0].GetRawText());

        var bad = await server.Client.GetAsync("/status?history_after=soon");
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.Contains("unix milliseconds", await bad.Content.ReadAsStringAsync());
    }

    [Fact]
    public void Lag_history_keeps_the_newest_samples_oldest_first()
    {
        var history = new LagHistory(capacity: 3);
        var t0 = DateTimeOffset.UnixEpoch;
        for (int i = 0; i < 5; i++) history.Record(new LagSample(t0.AddSeconds(i), i, (ulong)i));
        Assert.Equal([2.0, 3.0, 4.0], history.After(DateTimeOffset.MinValue).Select(s => s.Seconds));
        Assert.Equal([4.0], history.After(t0.AddSeconds(3)).Select(s => s.Seconds));
    }

    private static Task<HttpResponseMessage> GetAsync(RelayServer server, string path, string? accept)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, path);
        if (accept is not null) request.Headers.TryAddWithoutValidation("Accept", accept);
        return server.Client.SendAsync(request);
    }

    internal sealed class FixedCounter(string protocol, long open) : IProtocolConnectionCounter
    {
        public string Protocol => protocol;
        public long OpenConnections => open;
    }

    internal sealed class FixedSinks(params SinkCheckpoint[] checkpoints) : ISinkCheckpointSource
    {
        public IReadOnlyList<SinkCheckpoint> Checkpoints => checkpoints;
    }
}
