using Pgrelay.Core.Changes;
using StackExchange.Redis;

namespace Pgrelay.Resp.Tests;

/// <summary>
/// Keys carry primary-key values, so a key name is data: a connection hears about a key (keyspace and keyevent
/// notifications, BCAST invalidations) only when its user may read that key. Redis 7.0 leaks both; here each test
/// commits a change the user may not see, then one it may, and the first thing it receives must be the second.
/// </summary>
public sealed class KeyNotificationFilteringTests
{
    private static RowChange SecretCity(string name) => new(ChangeKind.Insert, TestServer.Cities, TestServer.Row(name, "XX", "1", null));
    private static RowChange User(string id) => new(ChangeKind.Insert, TestServer.Users, TestServer.Row(id, "u" + id, null));

    private static async Task<RawClient> LoginAsync(TestServer server, string user, int protocol = 2)
    {
        var client = await RawClient.ConnectAsync(server.Port);
        if (protocol == 3) Assert.IsType<RespMap>(await client.CommandAsync("HELLO", "3", "AUTH", user, "pw"));
        else Assert.Equal(new RespSimple("OK"), await client.CommandAsync("AUTH", user, "pw"));
        return client;
    }

    private static async Task CreateUserAsync(TestServer server, string name, params string[] rules)
    {
        using var admin = await RawClient.ConnectAsync(server.Port);
        Assert.Equal(new RespSimple("OK"), await admin.CommandAsync(["ACL", "SETUSER", name, "on", ">pw", .. rules]));
    }

    [Fact]
    public async Task Bcast_tracking_invalidates_only_keys_the_user_may_read()
    {
        await using var server = await TestServer.StartAsync();
        await CreateUserAsync(server, "grades", "~pub.users.*", "+@all");
        using var client = await LoginAsync(server, "grades", protocol: 3);
        Assert.Equal(new RespSimple("OK"), await client.CommandAsync("CLIENT", "TRACKING", "ON", "BCAST"));

        server.Apply(SecretCity("Secretville"));
        server.Apply(User("7"));
        Assert.Equal(new RespPush(["invalidate", new object?[] { "pub.users.7" }]), await client.ReadAsync());
    }

    [Fact]
    public async Task Bcast_invalidations_redirected_to_another_connection_need_that_connections_user_too()
    {
        await using var server = await TestServer.StartAsync();
        await CreateUserAsync(server, "listener", "~pub.users.*", "&*", "+@all");
        using var listener = await LoginAsync(server, "listener");
        var listenerId = Assert.IsType<long>(await listener.CommandAsync("CLIENT", "ID"));
        Assert.Equal(new object?[] { "subscribe", "__redis__:invalidate", 1L }, await listener.CommandAsync("SUBSCRIBE", "__redis__:invalidate"));
        using var tracker = await RawClient.ConnectAsync(server.Port);   // the default user: every key
        Assert.Equal(new RespSimple("OK"), await tracker.CommandAsync("CLIENT", "TRACKING", "ON", "BCAST", "REDIRECT", listenerId.ToString()));

        server.Apply(SecretCity("Secretville"));
        server.Apply(User("8"));
        Assert.Equal(new object?[] { "message", "__redis__:invalidate", new object?[] { "pub.users.8" } }, await listener.ReadAsync());
    }

    [Fact]
    public async Task Keyspace_and_keyevent_subscribers_hear_only_keys_their_user_may_read()
    {
        await using var server = await TestServer.StartAsync();
        await CreateUserAsync(server, "grades", "~pub.users.*", "&*", "+@all");
        using var sub = await LoginAsync(server, "grades");
        Assert.Equal(new object?[] { "psubscribe", "__key*__:*", 1L }, await sub.CommandAsync("PSUBSCRIBE", "__key*__:*"));
        Assert.Equal(new object?[] { "subscribe", "__keyspace@0__:pub.cities.Secretville/XX", 2L },
            await sub.CommandAsync("SUBSCRIBE", "__keyspace@0__:pub.cities.Secretville/XX"));
        Assert.Equal(new object?[] { "subscribe", "__keyevent@0__:hset", 3L }, await sub.CommandAsync("SUBSCRIBE", "__keyevent@0__:hset"));

        server.Apply(SecretCity("Secretville"));
        server.Apply(User("9"));
        var heard = new List<object?> { await sub.ReadAsync(), await sub.ReadAsync(), await sub.ReadAsync() };
        Assert.Contains(new object?[] { "pmessage", "__key*__:*", "__keyspace@0__:pub.users.9", "hset" }, heard);
        Assert.Contains(new object?[] { "pmessage", "__key*__:*", "__keyevent@0__:hset", "pub.users.9" }, heard);
        Assert.Contains(new object?[] { "message", "__keyevent@0__:hset", "pub.users.9" }, heard);
        // Ordinary PUBLISH is governed by channel rules alone, as in Redis.
        using var admin = await RawClient.ConnectAsync(server.Port);
        Assert.Equal(2L, await admin.CommandAsync("PUBLISH", "__keyevent@0__:hset", "anything"));   // the channel and the pattern
        Assert.Equal(new object?[] { "message", "__keyevent@0__:hset", "anything" }, await sub.ReadAsync());
    }

    [Fact]
    public async Task A_subscribed_user_whose_keys_change_hears_by_the_new_rules()
    {
        await using var server = await TestServer.StartAsync();
        await CreateUserAsync(server, "grades", "~pub.users.*", "&*", "+@all");
        using var sub = await LoginAsync(server, "grades");
        await sub.CommandAsync("SUBSCRIBE", "__keyevent@0__:hset");
        server.Apply(User("10"));
        Assert.Equal(new object?[] { "message", "__keyevent@0__:hset", "pub.users.10" }, await sub.ReadAsync());

        await CreateUserAsync(server, "grades", "resetkeys", "~pub.cities.*");
        server.Apply(User("11"));
        server.Apply(SecretCity("Newtown"));
        Assert.Equal(new object?[] { "message", "__keyevent@0__:hset", "pub.cities.Newtown/XX" }, await sub.ReadAsync());
    }

    [Fact]
    public async Task Auth_and_reset_switch_what_a_resp3_subscriber_hears()
    {
        await using var server = await TestServer.StartAsync();
        await CreateUserAsync(server, "grades", "~pub.users.*", "&*", "+@all");
        using var c = await RawClient.ConnectAsync(server.Port);   // default user: every key
        await c.CommandAsync("HELLO", "3");
        Assert.Equal(new RespPush(["subscribe", "__keyevent@0__:hset", 1L]), await c.CommandAsync("SUBSCRIBE", "__keyevent@0__:hset"));
        server.Apply(SecretCity("Before"));
        Assert.Equal(new RespPush(["message", "__keyevent@0__:hset", "pub.cities.Before/XX"]), await c.ReadAsync());

        Assert.Equal(new RespSimple("OK"), await c.CommandAsync("AUTH", "grades", "pw"));
        server.Apply(SecretCity("After"));
        server.Apply(User("12"));
        Assert.Equal(new RespPush(["message", "__keyevent@0__:hset", "pub.users.12"]), await c.ReadAsync());

        // RESET drops the subscriptions and goes back to the default user; subscribing again hears everything.
        Assert.Equal(new RespSimple("RESET"), await c.CommandAsync("RESET"));
        Assert.Equal(new object?[] { "subscribe", "__keyevent@0__:hset", 1L }, await c.CommandAsync("SUBSCRIBE", "__keyevent@0__:hset"));
        server.Apply(SecretCity("Reset"));
        Assert.Equal(new object?[] { "message", "__keyevent@0__:hset", "pub.cities.Reset/XX" }, await c.ReadAsync());
    }

    [Fact]
    public async Task StackExchange_Redis_subscriber_with_a_limited_user_hears_only_its_keys()
    {
        await using var server = await TestServer.StartAsync();
        await CreateUserAsync(server, "grades", "~pub.users.*", "&*", "+@all");
        var options = ConfigurationOptions.Parse($"127.0.0.1:{server.Port}");
        options.User = "grades";
        options.Password = "pw";
        options.AbortOnConnectFail = true;
        await using var redis = await ConnectionMultiplexer.ConnectAsync(options);
        var heard = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var sawUser = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await redis.GetSubscriber().SubscribeAsync(RedisChannel.Pattern("__keyspace@0__:*"), (channel, _) =>
        {
            heard.Enqueue(channel.ToString());
            if (channel.ToString().EndsWith("pub.users.13")) sawUser.TrySetResult();
        });

        server.Apply(SecretCity("Hidden"));
        server.Apply(User("13"));
        await sawUser.Task.WaitAsync(TimeSpan.FromSeconds(15));
        Assert.Equal(new[] { "__keyspace@0__:pub.users.13" }, heard.ToArray());
    }
}
