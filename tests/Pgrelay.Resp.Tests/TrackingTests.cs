using Pgrelay.Core.Changes;

namespace Pgrelay.Resp.Tests;

public sealed class TrackingTests
{
    [Fact]
    public async Task Resp3_client_gets_an_invalidation_push_when_a_read_key_changes()
    {
        await using var server = await TestServer.StartAsync();
        using var c = await RawClient.ConnectAsync(server.Port);

        await c.CommandAsync("HELLO", "3");
        Assert.Equal(new RespSimple("OK"), await c.CommandAsync("CLIENT", "TRACKING", "ON"));
        Assert.Equal("Ada", await c.CommandAsync("HGET", "pub.users.1", "name"));

        server.Apply(new RowChange(ChangeKind.Update, TestServer.Users, TestServer.Row("1", "Ada L.", null)));
        Assert.Equal(new RespPush(["invalidate", new object?[] { "pub.users.1" }]), await c.ReadAsync());

        // Once invalidated the key is forgotten until read again; a read re-arms it.
        Assert.Equal("Ada L.", await c.CommandAsync("HGET", "pub.users.1", "name"));
        server.Apply(new RowChange(ChangeKind.Delete, TestServer.Users, OldRow: TestServer.Row("1", null, null)));
        Assert.Equal(new RespPush(["invalidate", new object?[] { "pub.users.1" }]), await c.ReadAsync());
    }

    [Fact]
    public async Task Resp2_client_redirects_invalidations_to_a_subscribed_connection()
    {
        await using var server = await TestServer.StartAsync();
        using var listener = await RawClient.ConnectAsync(server.Port);
        using var reader = await RawClient.ConnectAsync(server.Port);

        long listenerId = Assert.IsType<long>(await listener.CommandAsync("CLIENT", "ID"));
        await listener.CommandAsync("SUBSCRIBE", "__redis__:invalidate");
        Assert.Equal(new RespError("ERR The client ID you want redirect to does not exist"), await reader.CommandAsync("CLIENT", "TRACKING", "ON", "REDIRECT", "99999"));
        Assert.Equal(new RespSimple("OK"), await reader.CommandAsync("CLIENT", "TRACKING", "ON", "REDIRECT", listenerId.ToString()));
        Assert.Equal(listenerId, await reader.CommandAsync("CLIENT", "GETREDIR"));
        await reader.CommandAsync("HGETALL", "pub.users.2");

        server.Apply(new RowChange(ChangeKind.Update, TestServer.Users, TestServer.Row("2", "Grace H.", null)));
        Assert.Equal(new object?[] { "message", "__redis__:invalidate", new object?[] { "pub.users.2" } }, await listener.ReadAsync());
    }

    [Fact]
    public async Task Bcast_mode_invalidates_every_change_under_its_prefixes()
    {
        await using var server = await TestServer.StartAsync();
        using var c = await RawClient.ConnectAsync(server.Port);

        await c.CommandAsync("HELLO", "3");
        Assert.Equal(new RespError("ERR PREFIX option requires BCAST mode to be enabled"), await c.CommandAsync("CLIENT", "TRACKING", "ON", "PREFIX", "pub.users."));
        Assert.Equal(new RespSimple("OK"), await c.CommandAsync("CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "pub.users."));

        server.Apply(new RowChange(ChangeKind.Insert, TestServer.Cities, TestServer.Row("Austin", "TX", "1", null)),
            new RowChange(ChangeKind.Insert, TestServer.Users, TestServer.Row("7", "Barbara", null)));
        Assert.Equal(new RespPush(["invalidate", new object?[] { "pub.users.7" }]), await c.ReadAsync());
    }

    [Fact]
    public async Task Optin_tracks_only_reads_after_client_caching_yes()
    {
        await using var server = await TestServer.StartAsync();
        using var c = await RawClient.ConnectAsync(server.Port);

        await c.CommandAsync("HELLO", "3");
        await c.CommandAsync("CLIENT", "TRACKING", "ON", "OPTIN");
        await c.CommandAsync("HGET", "pub.users.1", "name");                        // not tracked
        Assert.Equal(new RespSimple("OK"), await c.CommandAsync("CLIENT", "CACHING", "YES"));
        await c.CommandAsync("HGET", "pub.users.2", "name");                        // tracked

        server.Apply(new RowChange(ChangeKind.Update, TestServer.Users, TestServer.Row("1", "x", null)),
            new RowChange(ChangeKind.Update, TestServer.Users, TestServer.Row("2", "y", null)));
        Assert.Equal(new RespPush(["invalidate", new object?[] { "pub.users.2" }]), await c.ReadAsync());
    }
}
