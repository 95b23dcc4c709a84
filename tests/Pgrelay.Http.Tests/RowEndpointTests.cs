using System.Net;
using System.Text.Json;
using Pgrelay.Core.Changes;
using static Pgrelay.Http.Tests.TestData;

namespace Pgrelay.Http.Tests;

public class RowEndpointTests
{
    [Fact]
    public async Task Row_of_every_common_type_renders_as_typed_json()
    {
        await using var server = await RelayServer.StartAsync(ReadyStore());
        var response = await server.Client.GetAsync("/pub/everything/1");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        string body = await response.Content.ReadAsStringAsync();
        Assert.Equal("""
            {"id":1,"small":-2,"big":9007199254740993,"real":1.5,"double":"NaN","money":12345678901234567890.000000000000000001,"flag":true,"name":"say \"hi\"\n","code":"ab  ","doc":{"a": [1, 2], "b": null},"raw":"Cgs=","day":"2024-01-31","at":"12:34:56","at_tz":"12:00:00+02","stamp":"2024-01-31T12:00:00.123","stamp_tz":"2024-01-31T12:00:00+00:00","span":"1 day 02:00:00","uid":"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11","ints":[1,null,3],"words":["a","b c"],"nothing":null}
            """, body);
        using var _ = JsonDocument.Parse(body);
    }

    [Fact]
    public async Task Composite_keys_are_path_segments_in_key_order_and_may_need_decoding()
    {
        await using var server = await RelayServer.StartAsync(ReadyStore(
            Row("Tulsa", "OK", "413066"), Row("New York", "NY", "8336817"), Row("100%", "a/b", "1")));

        var tulsa = await server.Client.GetStringAsync("/pub/geo.cities/Tulsa/OK");
        Assert.Equal("""{"name":"Tulsa","state":"OK","population":413066}""", tulsa);

        var newYork = await server.Client.GetStringAsync("/pub/geo.cities/New%20York/NY");
        Assert.Equal("""{"name":"New York","state":"NY","population":8336817}""", newYork);

        // %25 and %2F are decoded exactly once: the key is 100%/a/b.
        var odd = await server.Client.GetStringAsync("/pub/geo.cities/100%25/a%2Fb");
        Assert.Equal("""{"name":"100%","state":"a/b","population":1}""", odd);
    }

    [Theory]
    [InlineData("/nope/everything/1", "unknown publication 'nope'")]
    [InlineData("/pub/nope/1", "publication 'pub' has no table 'nope'")]
    [InlineData("/pub/cities/Tulsa/OK", "publication 'pub' has no table 'cities'")]
    [InlineData("/pub/everything/2", "no row with key '2'")]
    [InlineData("/pub/geo.cities/Tulsa", "no row with key 'Tulsa'")]
    public async Task Unknown_publication_table_or_key_is_a_json_404(string path, string message)
    {
        await using var server = await RelayServer.StartAsync(ReadyStore(Row("Tulsa", "OK", "1")));
        var response = await server.Client.GetAsync(path);
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.StartsWith(message, json.RootElement.GetProperty("error").GetString());
    }

    [Theory]
    [InlineData("/pub")]
    [InlineData("/pub/")]
    [InlineData("/pub//")]
    [InlineData("/favicon.ico")]
    public async Task A_path_no_endpoint_serves_is_a_json_404(string path)
    {
        await using var server = await RelayServer.StartAsync(ReadyStore(Row("Tulsa", "OK", "1")));
        var response = await server.Client.GetAsync(path);
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.StartsWith("application/json", response.Content.Headers.ContentType?.ToString());
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Contains(path, json.RootElement.GetProperty("error").GetString());
    }

    [Fact]
    public async Task A_method_an_endpoint_does_not_take_is_a_json_405()
    {
        await using var server = await RelayServer.StartAsync(ReadyStore(Row("Tulsa", "OK", "1")));
        var response = await server.Client.PostAsync("/status", new StringContent("{}"));
        Assert.Equal(HttpStatusCode.MethodNotAllowed, response.StatusCode);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Contains("POST", json.RootElement.GetProperty("error").GetString());
    }

    [Fact]
    public async Task ETag_is_the_version_lsn_and_changes_with_the_row()
    {
        var store = ReadyStore(Row("Tulsa", "OK", "1"));
        await using var server = await RelayServer.StartAsync(store);

        var first = await server.Client.GetAsync("/pub/geo.cities/Tulsa/OK");
        var etag = first.Headers.ETag!;
        Assert.Equal("\"0/1000\"", etag.Tag);   // snapshot rows carry the snapshot's consistent point

        var txn = Txn(new RowChange(ChangeKind.Update, Cities, Row("Tulsa", "OK", "2")));
        store.Apply(txn);

        var second = await server.Client.GetAsync("/pub/geo.cities/Tulsa/OK");
        Assert.Equal("\"" + txn.EndLsn + "\"", second.Headers.ETag!.Tag);   // a version is named by the end of its transaction
        Assert.Equal("""{"name":"Tulsa","state":"OK","population":2}""", await second.Content.ReadAsStringAsync());

        var revalidate = new HttpRequestMessage(HttpMethod.Get, "/pub/geo.cities/Tulsa/OK");
        revalidate.Headers.IfNoneMatch.Add(second.Headers.ETag);
        var notModified = await server.Client.SendAsync(revalidate);
        Assert.Equal(HttpStatusCode.NotModified, notModified.StatusCode);

        var stale = new HttpRequestMessage(HttpMethod.Get, "/pub/geo.cities/Tulsa/OK");
        stale.Headers.IfNoneMatch.Add(etag);
        Assert.Equal(HttpStatusCode.OK, (await server.Client.SendAsync(stale)).StatusCode);
    }

    [Fact]
    public async Task Deleted_row_is_gone()
    {
        var store = ReadyStore(Row("Tulsa", "OK", "1"));
        await using var server = await RelayServer.StartAsync(store);
        store.Apply(Txn(new RowChange(ChangeKind.Delete, Cities, OldRow: Row("Tulsa", "OK", null))));
        Assert.Equal(HttpStatusCode.NotFound, (await server.Client.GetAsync("/pub/geo.cities/Tulsa/OK")).StatusCode);
    }
}
