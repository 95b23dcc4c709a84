using Pgrelay.Core.Changes;

namespace Pgrelay.Resp.Tests;

public sealed class PubSubTests
{
    [Fact]
    public async Task Committed_changes_publish_keyspace_and_keyevent_notifications()
    {
        await using var server = await TestServer.StartAsync();
        using var sub = await RawClient.ConnectAsync(server.Port);

        Assert.Equal(new object?[] { "psubscribe", "__keyspace@0__:pub.users.*", 1L }, await sub.CommandAsync("PSUBSCRIBE", "__keyspace@0__:pub.users.*"));
        Assert.Equal(new object?[] { "subscribe", "__keyevent@0__:del", 2L }, await sub.CommandAsync("SUBSCRIBE", "__keyevent@0__:del"));

        server.Apply(new RowChange(ChangeKind.Update, TestServer.Users, TestServer.Row("1", "Ada L.", null)));
        Assert.Equal(new object?[] { "pmessage", "__keyspace@0__:pub.users.*", "__keyspace@0__:pub.users.1", "hset" }, await sub.ReadAsync());

        server.Apply(new RowChange(ChangeKind.Delete, TestServer.Users, OldRow: TestServer.Row("2", null, null)));
        var first = Assert.IsType<object?[]>(await sub.ReadAsync());
        var second = Assert.IsType<object?[]>(await sub.ReadAsync());
        Assert.Contains(new object?[] { "pmessage", "__keyspace@0__:pub.users.*", "__keyspace@0__:pub.users.2", "del" }, new[] { first, second });
        Assert.Contains(new object?[] { "message", "__keyevent@0__:del", "pub.users.2" }, new[] { first, second });

        // Subscriber mode (RESP2) allows only a few commands.
        Assert.Equal(new object?[] { "pong", "" }, await sub.CommandAsync("PING"));
        Assert.Equal(new RespError("ERR Can't execute 'hget': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"),
            await sub.CommandAsync("HGET", "pub.users.1", "name"));
    }

    [Fact]
    public async Task Publish_reaches_subscribers_and_resp3_receives_pushes()
    {
        await using var server = await TestServer.StartAsync();
        using var sub = await RawClient.ConnectAsync(server.Port);
        using var pub = await RawClient.ConnectAsync(server.Port);

        await sub.CommandAsync("HELLO", "3");
        Assert.Equal(new RespPush(["subscribe", "news", 1L]), await sub.CommandAsync("SUBSCRIBE", "news"));
        Assert.Equal(1L, await pub.CommandAsync("PUBLISH", "news", "hello"));
        Assert.Equal(new RespPush(["message", "news", "hello"]), await sub.ReadAsync());
        // RESP3 connections keep running ordinary commands while subscribed.
        Assert.Equal("Ada", await sub.CommandAsync("HGET", "pub.users.1", "name"));
        Assert.Equal(new RespPush(["unsubscribe", "news", 0L]), await sub.CommandAsync("UNSUBSCRIBE"));
        Assert.Equal(0L, await pub.CommandAsync("PUBLISH", "news", "again"));
    }

    [Fact]
    public async Task A_subscriber_that_does_not_read_is_disconnected_at_the_output_limit()
    {
        await using var server = await TestServer.StartAsync(new RespOptions { OutputLimitPubSub = new(64 * 1024, 0, 0) });
        using var slow = await RawClient.ConnectAsync(server.Port);
        using var pub = await RawClient.ConnectAsync(server.Port);
        await slow.CommandAsync("SUBSCRIBE", "firehose");

        var payload = new string('x', 512 * 1024);
        long delivered = 1;
        for (int i = 0; i < 400 && delivered > 0; i++)
            delivered = Assert.IsType<long>(await pub.CommandAsync("PUBLISH", "firehose", payload));
        Assert.Equal(0L, delivered);   // the slow subscriber was dropped
        Assert.True(await slow.IsClosedAsync());
        Assert.Equal(new RespSimple("PONG"), await pub.CommandAsync("PING"));
    }
}
