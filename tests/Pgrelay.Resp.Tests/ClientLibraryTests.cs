using Pgrelay.Core.Changes;
using StackExchange.Redis;

namespace Pgrelay.Resp.Tests;

/// <summary>Real clients: StackExchange.Redis over RESP2 and RESP3, and redis-cli.</summary>
public sealed class ClientLibraryTests
{
    [Theory]
    [InlineData(RedisProtocol.Resp2)]
    [InlineData(RedisProtocol.Resp3)]
    public async Task StackExchange_Redis_reads_rows(RedisProtocol protocol)
    {
        await using var server = await TestServer.StartAsync();
        var options = ConfigurationOptions.Parse($"127.0.0.1:{server.Port}");
        options.Protocol = protocol;
        options.AbortOnConnectFail = true;
        await using var redis = await ConnectionMultiplexer.ConnectAsync(options);
        var db = redis.GetDatabase();

        var row = (await db.HashGetAllAsync("pub.cities.Tulsa/OK")).ToDictionary(e => e.Name.ToString(), e => e.Value.ToString());
        Assert.Equal("413066", row["population"]);
        Assert.Equal(4, row.Count);
        Assert.Equal("Grace", (string?)await db.HashGetAsync("pub.users.2", "name"));
        Assert.True((await db.HashGetAsync("pub.users.1", "email")).IsNull);
        Assert.True(await db.KeyExistsAsync("pub.users.1"));
        Assert.Equal(RedisType.Hash, await db.KeyTypeAsync("pub.users.1"));
        var error = await Assert.ThrowsAsync<RedisServerException>(() => db.HashSetAsync("pub.users.1", "name", "x"));
        Assert.StartsWith("READONLY", error.Message);

        var keys = server.Store.Publications.Count > 0 ? redis.GetServer(redis.GetEndPoints()[0]).Keys(pattern: "pub.users.*", pageSize: 1).Select(k => k.ToString()).Order().ToArray() : [];
        Assert.Equal(new[] { "pub.users.1", "pub.users.2" }, keys);

        var tx = db.CreateTransaction();
        var a = tx.HashGetAsync("pub.users.1", "name");
        var b = tx.HashGetAsync("pub.users.2", "name");
        Assert.True(await tx.ExecuteAsync());
        Assert.Equal("Ada", (string?)await a);
        Assert.Equal("Grace", (string?)await b);
    }

    [Fact]
    public async Task StackExchange_Redis_receives_keyspace_notifications()
    {
        await using var server = await TestServer.StartAsync();
        await using var redis = await ConnectionMultiplexer.ConnectAsync($"127.0.0.1:{server.Port}");
        var received = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        await redis.GetSubscriber().SubscribeAsync(RedisChannel.Literal("__keyevent@0__:hset"), (_, key) => received.TrySetResult(key.ToString()));

        server.Apply(new RowChange(ChangeKind.Insert, TestServer.Users, TestServer.Row("42", "Douglas", null)));
        Assert.Equal("pub.users.42", await received.Task.WaitAsync(TimeSpan.FromSeconds(15)));
    }

    [Fact]
    public async Task Redis_cli_works_against_pgrelay()
    {
        await using var server = await TestServer.StartAsync();

        Assert.Equal("413066", await RedisTools.CliAsync(server.Port, "HGET", "pub.cities.Tulsa/OK", "population"));
        Assert.Equal("id\n1\nname\nAda", await RedisTools.CliAsync(server.Port, "HGETALL", "pub.users.1"));
        Assert.Equal("id 1\nname Ada", await RedisTools.CliAsync(server.Port, "-3", "HGETALL", "pub.users.1"));
        var scanned = (await RedisTools.CliAsync(server.Port, "--scan", "--pattern", "pub.*")).Split('\n').Order().ToArray();
        Assert.Equal(new[] { "pub.cities.Portland/ME", "pub.cities.Portland/OR", "pub.cities.Tulsa/OK", "pub.users.1", "pub.users.2" }, scanned);
        Assert.Equal("5", await RedisTools.CliAsync(server.Port, "DBSIZE"));
        Assert.Contains("db0:keys=5", await RedisTools.CliAsync(server.Port, "INFO", "keyspace"));
        Assert.Equal("ERR unknown command 'foo', with args beginning with: 'bar' ", await RedisTools.CliAsync(server.Port, "foo", "bar"));
    }
}
