using System.Net;
using System.Text.Json;
using static Pgrelay.Http.Tests.TestData;

namespace Pgrelay.Http.Tests;

public class TablePageEndpointTests
{
    private static Pgrelay.Store.ReplicatedStore Store() => ReadyStore(
        Row("a", "1", "1"), Row("b", "1", "2"), Row("c", "1", "3"), Row("d", "1", "4"), Row("e", "1", "5"));

    private static async Task<(string[] Names, string? Next)> Page(HttpClient client, string query)
    {
        var response = await client.GetAsync("/pub/geo.cities" + query);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var names = json.RootElement.GetProperty("rows").EnumerateArray().Select(r => r.GetProperty("name").GetString()!).ToArray();
        var next = json.RootElement.GetProperty("next");
        return (names, next.ValueKind == JsonValueKind.Null ? null : next.GetString());
    }

    [Fact]
    public async Task Pages_walk_the_table_in_key_order()
    {
        await using var server = await RelayServer.StartAsync(Store());
        var (names, next) = await Page(server.Client, "?limit=2");
        Assert.Equal(["a", "b"], names);
        Assert.Equal("b/1", next);

        (names, next) = await Page(server.Client, "?limit=2&after=" + Uri.EscapeDataString(next!));
        Assert.Equal(["c", "d"], names);
        Assert.Equal("d/1", next);

        (names, next) = await Page(server.Client, "?limit=2&after=" + Uri.EscapeDataString(next!));
        Assert.Equal(["e"], names);
        Assert.Null(next);
    }

    [Fact]
    public async Task Default_page_holds_every_row_of_a_small_table_and_rows_are_typed()
    {
        await using var server = await RelayServer.StartAsync(Store());
        var body = await server.Client.GetStringAsync("/pub/geo.cities");
        Assert.StartsWith("""{"rows":[{"name":"a","state":"1","population":1},""", body);
        Assert.EndsWith("""{"name":"e","state":"1","population":5}],"next":null}""", body);
    }

    [Fact]
    public async Task Exactly_full_last_page_has_no_next()
    {
        await using var server = await RelayServer.StartAsync(Store());
        var (names, next) = await Page(server.Client, "?limit=5");
        Assert.Equal(5, names.Length);
        Assert.Null(next);
    }

    [Theory]
    [InlineData("?limit=0")]
    [InlineData("?limit=10001")]
    [InlineData("?limit=ten")]
    public async Task Bad_limit_is_a_json_400(string query)
    {
        await using var server = await RelayServer.StartAsync(Store());
        var response = await server.Client.GetAsync("/pub/geo.cities" + query);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Contains("limit", json.RootElement.GetProperty("error").GetString());
    }

    [Fact]
    public async Task Unknown_table_is_a_json_404()
    {
        await using var server = await RelayServer.StartAsync(Store());
        Assert.Equal(HttpStatusCode.NotFound, (await server.Client.GetAsync("/pub/nope")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await server.Client.GetAsync("/nope/geo.cities")).StatusCode);
    }

    [Fact]
    public async Task Large_pages_stream_every_row()
    {
        var rows = Enumerable.Range(0, 3000).Select(i => Row($"city{i:D5}", "X", i.ToString())).ToArray();
        await using var server = await RelayServer.StartAsync(ReadyStore(rows));
        var (names, next) = await Page(server.Client, "?limit=10000");
        Assert.Equal(3000, names.Length);
        Assert.Equal("city00000", names[0]);
        Assert.Equal("city02999", names[^1]);
        Assert.Null(next);
    }
}
