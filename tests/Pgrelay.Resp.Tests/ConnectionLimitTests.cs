using System.Net.Sockets;
using System.Text;
using Pgrelay.Transport;

namespace Pgrelay.Resp.Tests;

/// <summary>Redis's per-connection limits, kept by the transport: timeout, client-output-buffer-limit, and back-pressure.</summary>
public sealed class ConnectionLimitTests
{
    [Fact]
    public async Task The_idle_timeout_closes_idle_clients_but_not_subscribers()
    {
        await using var server = await TestServer.StartAsync(new RespOptions { IdleTimeout = TimeSpan.FromSeconds(1) });
        using var idle = await RawClient.ConnectAsync(server.Port);
        using var subscriber = await RawClient.ConnectAsync(server.Port);
        Assert.Equal(new RespSimple("PONG"), await idle.CommandAsync("PING"));
        Assert.Equal(new object?[] { "subscribe", "news", 1L }, await subscriber.CommandAsync("SUBSCRIBE", "news"));

        Assert.True(await idle.IsClosedAsync());   // within the 15 s guard; Redis's words: none
        using var publisher = await RawClient.ConnectAsync(server.Port);
        Assert.Equal(1L, await publisher.CommandAsync("PUBLISH", "news", "still here"));
        Assert.Equal(new object?[] { "message", "news", "still here" }, await subscriber.ReadAsync());
    }

    [Fact]
    public async Task A_subscriber_above_the_soft_limit_for_longer_than_allowed_is_disconnected()
    {
        await using var server = await TestServer.StartAsync(new RespOptions { OutputLimitPubSub = new(0, 64 * 1024, 1) });
        using var slow = await RawClient.ConnectAsync(server.Port);
        using var publisher = await RawClient.ConnectAsync(server.Port);
        await slow.CommandAsync("SUBSCRIBE", "firehose");
        var payload = new string('p', 32 * 1024);
        long receivers = 1;
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (receivers > 0 && DateTime.UtcNow < deadline)
        {
            receivers = Assert.IsType<long>(await publisher.CommandAsync("PUBLISH", "firehose", payload));
            await Task.Delay(20);
        }
        Assert.Equal(0L, receivers);
        Assert.True(server.Server.Stats.OutputLimitDisconnects >= 1);
    }

    [Fact]
    public async Task A_client_whose_replies_pile_up_past_the_normal_limit_is_disconnected()
    {
        await using var server = await TestServer.StartAsync(new RespOptions { OutputLimitNormal = new(256 * 1024, 0, 0) }, extraUsers: 20_000);
        using var tcp = new TcpClient { ReceiveBufferSize = 4096 };
        await tcp.ConnectAsync("127.0.0.1", server.Port);
        var keys = Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat("*2\r\n$4\r\nKEYS\r\n$1\r\n*\r\n", 200)));
        try
        {
            await tcp.GetStream().WriteAsync(keys);
        }
        catch (IOException)
        {
        }
        // The client reads nothing; the server's unsent replies pass the limit once the socket is full.
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (server.Server.Stats.OutputLimitDisconnects == 0 && DateTime.UtcNow < deadline) await Task.Delay(50);
        Assert.Equal(1, server.Server.Stats.OutputLimitDisconnects);
        Assert.Empty(server.Listener.Connections);
    }

    /// <summary>
    /// With Redis's default (no normal limit), a client that sends without reading is not served without bound: the
    /// server stops reading from it once its replies cannot be sent, so what it holds for the client stays small.
    /// </summary>
    [Fact]
    public async Task A_client_that_never_reads_is_held_back_not_buffered()
    {
        await using var server = await TestServer.StartAsync();
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 4096, SendBufferSize = 65536 };
        await socket.ConnectAsync("127.0.0.1", server.Port);
        socket.Blocking = false;
        var requests = Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat("*2\r\n$7\r\nHGETALL\r\n$19\r\npub.cities.Tulsa/OK\r\n", 2000)));
        long sent = 0;
        var deadline = DateTime.UtcNow.AddSeconds(30);
        int stalls = 0;
        while (DateTime.UtcNow < deadline && stalls < 50)
        {
            int n = socket.Send(requests.AsSpan((int)(sent % requests.Length)), SocketFlags.None, out var error);   // whole requests, in order
            if (error == SocketError.WouldBlock) { stalls++; await Task.Delay(20); continue; }
            Assert.True(error == SocketError.Success, $"{error} after {sent} bytes: " + string.Join("\n", server.Logs.Lines));
            sent += n;
            stalls = 0;
        }
        Assert.True(stalls >= 50, "the server kept reading everything");
        var connection = Assert.Single(server.Listener.Connections);
        Assert.True(connection.QueryBufferLength + connection.PendingOutputBytes < 2 * 1024 * 1024,
            $"holds {connection.QueryBufferLength} bytes of requests and {connection.PendingOutputBytes} of replies after {sent} bytes sent");
    }
}

/// <summary>The same protocol on the fallback transport (.NET streams, as TLS and non-Linux hosts use) and on the event loop.</summary>
public sealed class TransportVariantTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Pipelines_pubsub_and_large_replies_work_on_both_transports(bool streams)
    {
        await using var server = await TestServer.StartAsync(streams: streams);
        using var c = await RawClient.ConnectAsync(server.Port);
        var pipeline = new StringBuilder();
        for (int i = 0; i < 5000; i++) pipeline.Append("*3\r\n$4\r\nHGET\r\n$11\r\npub.users.2\r\n$4\r\nname\r\n");
        await c.SendRawAsync(pipeline.ToString());
        for (int i = 0; i < 5000; i++) Assert.Equal("Grace", await c.ReadAsync());
        var big = new string('e', 3_000_000);
        Assert.Equal(big, await c.CommandAsync("ECHO", big));

        using var sub = await RawClient.ConnectAsync(server.Port);
        await sub.CommandAsync("SUBSCRIBE", "ch");
        for (int i = 0; i < 100; i++) Assert.Equal(1L, await c.CommandAsync("PUBLISH", "ch", "m" + i));
        for (int i = 0; i < 100; i++) Assert.Equal(new object?[] { "message", "ch", "m" + i }, await sub.ReadAsync());
        Assert.Equal(new RespSimple("OK"), await c.CommandAsync("QUIT"));
        Assert.True(await c.IsClosedAsync());
    }
}
