namespace Pgrelay.Resp.Tests;

/// <summary>RANDOMKEY, OBJECT and sharded pub/sub: what a Redis user reaches for besides the hash reads.</summary>
public sealed class KeyspaceExtrasTests
{
    [Fact]
    public async Task Randomkey_returns_existing_keys_and_object_describes_rows_as_hashes()
    {
        await using var server = await TestServer.StartAsync();
        using var c = await RawClient.ConnectAsync(server.Port);
        var keys = new HashSet<string>();
        for (int i = 0; i < 50; i++) keys.Add(Assert.IsType<string>(await c.CommandAsync("RANDOMKEY")));
        Assert.Subset(new HashSet<string> { "pub.cities.Tulsa/OK", "pub.cities.Portland/OR", "pub.cities.Portland/ME", "pub.users.1", "pub.users.2" }, keys);
        Assert.True(keys.Count > 1);

        Assert.Equal("listpack", await c.CommandAsync("OBJECT", "ENCODING", "pub.users.1"));
        Assert.Null(await c.CommandAsync("OBJECT", "ENCODING", "pub.users.404"));
        Assert.Equal(1L, await c.CommandAsync("OBJECT", "REFCOUNT", "pub.users.1"));
        Assert.StartsWith("ERR An LFU maxmemory policy is not selected", Assert.IsType<RespError>(await c.CommandAsync("OBJECT", "FREQ", "pub.users.1")).Message);
        Assert.Equal(new RespError("ERR unknown subcommand 'nope'. Try OBJECT HELP."), await c.CommandAsync("OBJECT", "nope", "x"));
        Assert.Equal(new RespError("ERR wrong number of arguments for 'object|encoding' command"), await c.CommandAsync("OBJECT", "ENCODING"));
    }

    [Fact]
    public async Task Sharded_pubsub_is_a_namespace_of_its_own()
    {
        await using var server = await TestServer.StartAsync();
        using var sub = await RawClient.ConnectAsync(server.Port);
        using var pub = await RawClient.ConnectAsync(server.Port);

        Assert.Equal(new object?[] { "ssubscribe", "orders", 1L }, await sub.CommandAsync("SSUBSCRIBE", "orders"));
        Assert.Equal(0L, await pub.CommandAsync("PUBLISH", "orders", "plain"));
        Assert.Equal(1L, await pub.CommandAsync("SPUBLISH", "orders", "hello"));
        Assert.Equal(new object?[] { "smessage", "orders", "hello" }, await sub.ReadAsync());
        Assert.Equal(new object?[] { "orders" }, await pub.CommandAsync("PUBSUB", "SHARDCHANNELS"));
        Assert.Equal(new object?[] { "orders", 1L }, await pub.CommandAsync("PUBSUB", "SHARDNUMSUB", "orders"));
        Assert.Equal(new object?[] { "sunsubscribe", "orders", 0L }, await sub.CommandAsync("SUNSUBSCRIBE"));
    }
}
