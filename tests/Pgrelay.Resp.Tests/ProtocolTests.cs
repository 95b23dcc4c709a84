using System.Buffers;
using System.Text;
using Pgrelay.Resp.Keyspace;
using Pgrelay.Resp.Protocol;

namespace Pgrelay.Resp.Tests;

public sealed class ProtocolTests
{
    private static unsafe (RespParseResult Result, string[] Args, int Consumed, string Error) Parse(string input, RespLimits? limits = null, bool authRequired = false)
    {
        var parser = new RespParser(limits ?? RespLimits.Default);
        var request = new RespRequest();
        var bytes = Encoding.UTF8.GetBytes(input);
        var result = parser.Parse(bytes, request, authRequired, out int consumed);
        string[] args = [];
        if (result == RespParseResult.Command)
        {
            fixed (byte* start = bytes)
            {
                request.Bind(start);
                args = Enumerable.Range(0, request.Count).Select(request.ArgString).ToArray();
                request.Bind(null);
            }
        }
        Span<byte> error = stackalloc byte[128];
        string text = result == RespParseResult.Error ? Encoding.UTF8.GetString(error[..parser.FormatError(error)]) : "";
        return (result, args, consumed, text);
    }

    [Fact]
    public void Multibulk_commands_parse_only_when_complete()
    {
        var full = "*3\r\n$4\r\nHGET\r\n$11\r\npub.users.1\r\n$4\r\nname\r\n";
        var parsed = Parse(full);
        Assert.Equal(RespParseResult.Command, parsed.Result);
        Assert.Equal(new[] { "HGET", "pub.users.1", "name" }, parsed.Args);
        Assert.Equal(full.Length, parsed.Consumed);
        for (int cut = 1; cut < full.Length; cut++)
            Assert.Equal(RespParseResult.Incomplete, Parse(full[..cut]).Result);
        Assert.Equal(RespParseResult.Empty, Parse("*0\r\n").Result);
    }

    [Fact]
    public void Inline_commands_split_like_redis()
    {
        Assert.Equal(new[] { "HGET", "pub.cities.Tulsa/OK", "a b", "it's" }, Parse("HGET pub.cities.Tulsa/OK \"a b\" 'it\\'s'\r\n").Args);
        Assert.Equal(new[] { "ECHO", "aA\n" }, Parse("ECHO \"a\\x41\\n\"\n").Args);
        Assert.Equal(RespParseResult.Empty, Parse("\r\n").Result);
        Assert.Equal(RespParseResult.Incomplete, Parse("PING").Result);
        Assert.Equal("ERR Protocol error: unbalanced quotes in request", Parse("ECHO \"abc\r\n").Error);
    }

    [Fact]
    public void Limits_are_enforced()
    {
        var limits = new RespLimits(ProtoMaxBulkLength: 1024);
        Assert.Equal("ERR Protocol error: invalid bulk length", Parse("*1\r\n$2000\r\n", limits).Error);
        Assert.Equal("ERR Protocol error: invalid multibulk length", Parse("*2147483648\r\n", limits).Error);
        Assert.Equal("ERR Protocol error: too big inline request", Parse(new string('a', 70_000), limits).Error);
        Assert.Equal("ERR Protocol error: unauthenticated multibulk length", Parse("*11\r\n", limits, authRequired: true).Error);
        Assert.Equal("ERR Protocol error: unauthenticated bulk length", Parse("*1\r\n$16385\r\n", RespLimits.Default, authRequired: true).Error);
        Assert.Equal(RespParseResult.Incomplete, Parse("*10\r\n$16384\r\n", RespLimits.Default, authRequired: true).Result);
    }

    [Theory]
    [InlineData("*", "anything", true)]
    [InlineData("pub.users.*", "pub.users.12", true)]
    [InlineData("pub.users.?", "pub.users.12", false)]
    [InlineData("pub.[a-c]ities.*", "pub.cities.x", true)]
    [InlineData("pub.[^c]ities.*", "pub.cities.x", false)]
    [InlineData("a\\*b", "a*b", true)]
    [InlineData("a\\*b", "axb", false)]
    [InlineData("*a*b*c*", "xxaxxbxxcxx", true)]
    [InlineData("h[ae]llo", "hillo", false)]
    public void Glob_matches_like_stringmatchlen(string pattern, string text, bool expected) =>
        Assert.Equal(expected, GlobPattern.IsMatch(Encoding.UTF8.GetBytes(pattern), Encoding.UTF8.GetBytes(text)));

    [Fact]
    public async Task A_malformed_request_closes_only_its_own_connection()
    {
        await using var server = await TestServer.StartAsync();
        using var bad = await RawClient.ConnectAsync(server.Port);
        using var good = await RawClient.ConnectAsync(server.Port);

        await bad.SendRawAsync("*1\r\n$abc\r\n");
        Assert.Equal(new RespError("ERR Protocol error: invalid bulk length"), await bad.ReadAsync());
        Assert.True(await bad.IsClosedAsync());
        Assert.Equal("Ada", await good.CommandAsync("HGET", "pub.users.1", "name"));
    }

    [Fact]
    public async Task Pipelined_and_inline_requests_are_answered_in_order()
    {
        await using var server = await TestServer.StartAsync();
        using var c = await RawClient.ConnectAsync(server.Port);

        var pipeline = new StringBuilder();
        for (int i = 0; i < 1000; i++) pipeline.Append("*3\r\n$4\r\nHGET\r\n$11\r\npub.users.2\r\n$4\r\nname\r\n");
        pipeline.Append("HGET pub.users.1 name\r\n");
        await c.SendRawAsync(pipeline.ToString());
        for (int i = 0; i < 1000; i++) Assert.Equal("Grace", await c.ReadAsync());
        Assert.Equal("Ada", await c.ReadAsync());
    }

    [Fact]
    public async Task Clients_beyond_the_limit_are_refused()
    {
        await using var server = await TestServer.StartAsync(new RespOptions { MaxClients = 1 });
        using var first = await RawClient.ConnectAsync(server.Port);
        Assert.Equal(new RespSimple("PONG"), await first.CommandAsync("PING"));
        using var second = await RawClient.ConnectAsync(server.Port);
        Assert.Equal(new RespError("ERR max number of clients reached"), await second.ReadAsync());
        Assert.Equal(new RespSimple("PONG"), await first.CommandAsync("PING"));
    }

    [Fact]
    public async Task Client_commands_name_list_and_kill_connections()
    {
        await using var server = await TestServer.StartAsync();
        using var a = await RawClient.ConnectAsync(server.Port);
        using var b = await RawClient.ConnectAsync(server.Port);

        Assert.Equal(new RespSimple("OK"), await a.CommandAsync("CLIENT", "SETNAME", "worker-1"));
        Assert.Equal("worker-1", await a.CommandAsync("CLIENT", "GETNAME"));
        long bId = Assert.IsType<long>(await b.CommandAsync("CLIENT", "ID"));
        var list = Assert.IsType<string>(await a.CommandAsync("CLIENT", "LIST"));
        Assert.Contains("name=worker-1", list);
        Assert.Contains($"id={bId} ", list);
        Assert.Contains("user=default", Assert.IsType<string>(await a.CommandAsync("CLIENT", "INFO")));
        Assert.Equal(1L, await a.CommandAsync("CLIENT", "KILL", "ID", bId.ToString()));
        Assert.True(await b.IsClosedAsync());
        Assert.Equal(new RespSimple("OK"), await a.CommandAsync("QUIT"));
        Assert.True(await a.IsClosedAsync());
    }

    [Fact]
    public async Task A_graceful_stop_closes_idle_and_subscribed_clients_instead_of_waiting_for_them()
    {
        await using var server = await TestServer.StartAsync();
        using var idle = await RawClient.ConnectAsync(server.Port);
        using var subscriber = await RawClient.ConnectAsync(server.Port);
        Assert.Equal(new RespSimple("PONG"), await idle.CommandAsync("PING"));
        Assert.Equal(new object?[] { "psubscribe", "__keyspace@0__:*", 1L }, await subscriber.CommandAsync("PSUBSCRIBE", "__keyspace@0__:*"));

        // The server's shutdown timeout is 5 minutes: only connections that end by themselves let the stop finish here.
        await server.StopAsync().WaitAsync(TimeSpan.FromSeconds(60));
        Assert.True(await idle.IsClosedAsync());
        Assert.True(await subscriber.IsClosedAsync());
    }
}
