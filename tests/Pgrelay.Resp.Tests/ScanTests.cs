namespace Pgrelay.Resp.Tests;

public sealed class ScanTests
{
    [Fact]
    public async Task Scan_returns_every_key_exactly_as_keys_does()
    {
        await using var server = await TestServer.StartAsync(extraUsers: 500);
        using var c = await RawClient.ConnectAsync(server.Port);

        var keys = Assert.IsType<object?[]>(await c.CommandAsync("KEYS", "*")).Cast<string>().ToHashSet();
        Assert.Equal(505, keys.Count);
        Assert.Contains("pub.cities.Tulsa/OK", keys);
        Assert.Contains("pub.users.399", keys);

        var scanned = new List<string>();
        string cursor = "0";
        for (int round = 0; round < 10_000; round++)
        {
            var reply = Assert.IsType<object?[]>(await c.CommandAsync("SCAN", cursor, "COUNT", "7"));
            cursor = Assert.IsType<string>(reply[0]);
            scanned.AddRange(Assert.IsType<object?[]>(reply[1]).Cast<string>());
            if (cursor == "0") break;
        }
        Assert.Equal("0", cursor);
        Assert.Equal(keys.Order(), scanned.Distinct().Order());
    }

    [Fact]
    public async Task Scan_and_keys_filter_with_redis_globs_and_types()
    {
        await using var server = await TestServer.StartAsync(extraUsers: 50);
        using var c = await RawClient.ConnectAsync(server.Port);

        var cities = Assert.IsType<object?[]>(await c.CommandAsync("KEYS", "pub.cities.*")).Cast<string>().Order().ToArray();
        Assert.Equal(new[] { "pub.cities.Portland/ME", "pub.cities.Portland/OR", "pub.cities.Tulsa/OK" }, cities);
        Assert.Equal(new object?[] { "pub.users.1" }, await c.CommandAsync("KEYS", "pub.users.[0-1]"));

        var matched = new List<string>();
        string cursor = "0";
        for (int round = 0; round < 1000; round++)
        {
            var reply = Assert.IsType<object?[]>(await c.CommandAsync("SCAN", cursor, "MATCH", "pub.users.1??", "COUNT", "5", "TYPE", "hash"));
            cursor = (string)reply[0]!;
            matched.AddRange(((object?[])reply[1]!).Cast<string>());
            if (cursor == "0") break;
        }
        Assert.Equal(Enumerable.Range(100, 50).Select(i => "pub.users." + i).Order(), matched.Order());

        var none = Assert.IsType<object?[]>(await c.CommandAsync("SCAN", "0", "TYPE", "string", "COUNT", "1000"));
        Assert.Empty(Assert.IsType<object?[]>(none[1]));
    }
}
