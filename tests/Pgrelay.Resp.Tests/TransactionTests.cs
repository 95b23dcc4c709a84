using Pgrelay.Core.Changes;

namespace Pgrelay.Resp.Tests;

public sealed class TransactionTests
{
    [Fact]
    public async Task Multi_exec_runs_queued_reads()
    {
        await using var server = await TestServer.StartAsync();
        using var c = await RawClient.ConnectAsync(server.Port);

        Assert.Equal(new RespSimple("OK"), await c.CommandAsync("MULTI"));
        Assert.Equal(new RespSimple("QUEUED"), await c.CommandAsync("HGET", "pub.users.1", "name"));
        Assert.Equal(new RespSimple("QUEUED"), await c.CommandAsync("HGET", "pub.users.2", "name"));
        Assert.Equal(new RespSimple("QUEUED"), await c.CommandAsync("EXISTS", "pub.users.3"));
        // A change committed while the transaction is queued is seen by every read of EXEC, not some.
        server.Apply(new RowChange(ChangeKind.Insert, TestServer.Users, TestServer.Row("3", "Linus", null)),
            new RowChange(ChangeKind.Update, TestServer.Users, TestServer.Row("1", "Ada L.", null)));
        Assert.Equal(new object?[] { "Ada L.", "Grace", 1L }, await c.CommandAsync("EXEC"));
    }

    [Fact]
    public async Task Errors_while_queuing_abort_exec()
    {
        await using var server = await TestServer.StartAsync();
        using var c = await RawClient.ConnectAsync(server.Port);

        await c.CommandAsync("MULTI");
        Assert.IsType<RespError>(await c.CommandAsync("NOSUCH"));
        Assert.Equal(new RespError("ERR MULTI calls can not be nested"), await c.CommandAsync("MULTI"));
        Assert.Equal(new RespError("EXECABORT Transaction discarded because of previous errors."), await c.CommandAsync("EXEC"));
        Assert.Equal(new RespError("ERR EXEC without MULTI"), await c.CommandAsync("EXEC"));

        await c.CommandAsync("MULTI");
        await c.CommandAsync("HGET", "pub.users.1", "name");
        Assert.Equal(new RespSimple("OK"), await c.CommandAsync("DISCARD"));
        Assert.Equal(new RespError("ERR DISCARD without MULTI"), await c.CommandAsync("DISCARD"));
    }

    [Fact]
    public async Task Watch_fails_exec_when_replication_changed_the_key()
    {
        await using var server = await TestServer.StartAsync();
        using var c = await RawClient.ConnectAsync(server.Port);

        Assert.Equal(new RespSimple("OK"), await c.CommandAsync("WATCH", "pub.users.1"));
        await c.CommandAsync("MULTI");
        await c.CommandAsync("HGET", "pub.users.1", "name");
        server.Apply(new RowChange(ChangeKind.Update, TestServer.Users, TestServer.Row("1", "Ada L.", null)));
        Assert.Null(await c.CommandAsync("EXEC"));

        await c.CommandAsync("WATCH", "pub.users.2");
        await c.CommandAsync("MULTI");
        await c.CommandAsync("HGET", "pub.users.2", "name");
        server.Apply(new RowChange(ChangeKind.Update, TestServer.Users, TestServer.Row("1", "Ada", null)));
        Assert.Equal(new object?[] { "Grace" }, await c.CommandAsync("EXEC"));
    }
}
