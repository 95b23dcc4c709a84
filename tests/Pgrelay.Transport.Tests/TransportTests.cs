using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Pgrelay.Transport.Buffers;
using Pgrelay.Transport.Tls;

namespace Pgrelay.Transport.Tests;

public sealed class TransportTests
{
    private static async Task<string> ReadLineAsync(NetworkStream stream)
    {
        var line = new List<byte>();
        var one = new byte[1];
        using var guard = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        while (true)
        {
            if (await stream.ReadAsync(one, guard.Token) == 0) return line.Count == 0 ? "<closed>" : Encoding.ASCII.GetString([.. line]);
            if (one[0] == '\n') return Encoding.ASCII.GetString([.. line]);
            line.Add(one[0]);
        }
    }

    private static async Task<bool> IsClosedAsync(NetworkStream stream)
    {
        using var guard = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        var buffer = new byte[4096];
        try
        {
            while (true) if (await stream.ReadAsync(buffer, guard.Token) == 0) return true;
        }
        catch (IOException) { return true; }
        catch (OperationCanceledException) { return false; }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(4096)]
    [InlineData(70_000)]
    public void The_receive_buffer_copies_each_byte_a_bounded_number_of_times_however_input_is_split(int piece)
    {
        // One 8 MB request arriving in pieces, consumed only at its end, then many small ones consumed as they come.
        var buffer = new ReceiveBuffer();
        long received = 0;
        var data = new byte[piece];
        while (received < 8_000_000)
        {
            var room = buffer.GetWritable(0).Span;
            int n = Math.Min(room.Length, piece);
            data.AsSpan(0, n).CopyTo(room);
            buffer.Commit(n);
            received += n;
        }
        buffer.Consume(buffer.Length);
        for (int i = 0; i < 100_000; i++)
        {
            buffer.Append(data.AsSpan(0, Math.Min(piece, 100)));
            received += Math.Min(piece, 100);
            buffer.Consume(buffer.Length / 2);
        }
        Assert.True(buffer.BytesCopied <= 2 * received, $"{buffer.BytesCopied} bytes copied for {received} received");
    }

    [Fact]
    public void A_bulk_hint_caps_the_last_growth_step_at_the_request_size()
    {
        var buffer = new ReceiveBuffer();
        const int request = 10_000_000;
        long received = 0;
        while (received < request)
        {
            var room = buffer.GetWritable((int)(request - received)).Span;
            int n = (int)Math.Min(room.Length, request - received);
            buffer.Commit(n);
            received += n;
        }
        Assert.InRange(buffer.Capacity, request, request + 4096);
    }

    [Fact]
    public async Task Lines_pipelines_and_pushes_go_through_the_event_loop()
    {
        var echo = new LineEcho();
        await using var listener = TestListener.Start(echo, new ConnectionQuota(10), new ConnectionLimits());
        using var tcp = new TcpClient();
        await tcp.ConnectAsync("127.0.0.1", listener.Port);
        var stream = tcp.GetStream();
        var pipeline = string.Concat(Enumerable.Range(0, 5000).Select(i => $"line {i}\n"));
        await stream.WriteAsync(Encoding.ASCII.GetBytes(pipeline + "push 3\nlast\n"));
        for (int i = 0; i < 5000; i++) Assert.Equal($"line {i}", await ReadLineAsync(stream));
        var rest = new[] { await ReadLineAsync(stream), await ReadLineAsync(stream), await ReadLineAsync(stream), await ReadLineAsync(stream) };
        Assert.Equal(3, rest.Count(l => l == "pushed"));
        Assert.Contains("last", rest);
        await stream.WriteAsync("quit\n"u8.ToArray());
        Assert.Equal("quit", await ReadLineAsync(stream));
        Assert.True(await IsClosedAsync(stream));
        await Eventually(() => echo.Sessions.Single().ClosedCalls == 1);
    }

    [Fact]
    public async Task Connections_beyond_the_quota_get_the_protocols_words_and_are_closed()
    {
        var echo = new LineEcho();
        await using var listener = TestListener.Start(echo, new ConnectionQuota(1), new ConnectionLimits());
        using var first = new TcpClient();
        await first.ConnectAsync("127.0.0.1", listener.Port);
        await first.GetStream().WriteAsync("hi\n"u8.ToArray());
        Assert.Equal("hi", await ReadLineAsync(first.GetStream()));
        using var second = new TcpClient();
        await second.ConnectAsync("127.0.0.1", listener.Port);
        Assert.Equal("BUSY", await ReadLineAsync(second.GetStream()));
        Assert.True(await IsClosedAsync(second.GetStream()));
        Assert.Equal(1, echo.RejectedCount);
        Assert.Single(echo.Sessions);   // no session was built for the refused one
    }

    [Fact]
    public async Task Closing_from_other_threads_is_idempotent_and_the_session_hears_of_it_once()
    {
        var echo = new LineEcho();
        await using var listener = TestListener.Start(echo, new ConnectionQuota(100), new ConnectionLimits());
        var clients = new List<TcpClient>();
        for (int i = 0; i < 20; i++)
        {
            var c = new TcpClient();
            await c.ConnectAsync("127.0.0.1", listener.Port);
            await c.GetStream().WriteAsync("x\n"u8.ToArray());
            Assert.Equal("x", await ReadLineAsync(c.GetStream()));
            clients.Add(c);
        }
        var sessions = echo.Sessions.ToArray();
        // Many threads close every connection at once, while pushes keep arriving.
        await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(() =>
        {
            foreach (var s in sessions)
            {
                s.Push("late\n"u8.ToArray());
                s.Connection.Close();
            }
        })));
        foreach (var c in clients) Assert.True(await IsClosedAsync(c.GetStream()));
        await Eventually(() => sessions.All(s => s.ClosedCalls == 1) && listener.Listener.ConnectionCount == 0);
        foreach (var c in clients) c.Dispose();
    }

    [Fact]
    public async Task A_stop_answers_what_was_read_and_closes_idle_connections_at_once()
    {
        var echo = new LineEcho();
        var listener = TestListener.Start(echo, new ConnectionQuota(10), new ConnectionLimits());
        using var idle = new TcpClient();
        await idle.ConnectAsync("127.0.0.1", listener.Port);
        using var busy = new TcpClient();
        await busy.ConnectAsync("127.0.0.1", listener.Port);
        await Eventually(() => echo.Sessions.Count == 2);
        echo.Release.Reset();
        await busy.GetStream().WriteAsync("slow\nafter\n"u8.ToArray());   // the loop is inside this request when the stop comes
        await Eventually(() => echo.InSlowRequest);
        var stop = listener.StopAsync();
        echo.Release.Set();
        await stop.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal("slow", await ReadLineAsync(busy.GetStream()));
        Assert.Equal("after", await ReadLineAsync(busy.GetStream()));
        Assert.True(await IsClosedAsync(idle.GetStream()));
        await listener.DisposeAsync();
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]   // the streams fallback (no epoll)
    public async Task Each_tls_handshake_asks_for_the_current_certificate(bool streams)
    {
        using var first = TestCertificates.Create("first");
        using var second = TestCertificates.Create("second");
        var current = SslStreamCertificateContext.Create(first.Server, null, offline: true);
        var tls = TlsEndpointOptions.For(() => Volatile.Read(ref current));
        var echo = new LineEcho();
        await using var listener = TestListener.Start(echo, new ConnectionQuota(10), new ConnectionLimits(), tls, streams);

        async Task<string> Subject()
        {
            using var tcp = new TcpClient();
            await tcp.ConnectAsync("127.0.0.1", listener.Port);
            using var ssl = new SslStream(tcp.GetStream());
            string? subject = null;
            await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
            {
                TargetHost = "localhost",
                RemoteCertificateValidationCallback = (_, c, _, _) => (subject = c?.Subject) is not null,
            });
            await ssl.WriteAsync("ping\n"u8.ToArray());
            var reply = new byte[5];
            await ssl.ReadExactlyAsync(reply);
            Assert.Equal("ping\n", Encoding.ASCII.GetString(reply));
            return subject!;
        }

        Assert.Equal("CN=first", await Subject());
        Volatile.Write(ref current, SslStreamCertificateContext.Create(second.Server, null, offline: true));
        Assert.Equal("CN=second", await Subject());
    }

    [Fact]
    public void Accept_errors_are_sorted()
    {
        Assert.Equal(AcceptErrorKind.Transient, AcceptErrors.Classify(new SocketException((int)SocketError.ConnectionAborted)));
        Assert.Equal(AcceptErrorKind.BackOff, AcceptErrors.Classify(new SocketException((int)SocketError.TooManyOpenSockets)));
        Assert.Equal(AcceptErrorKind.Stop, AcceptErrors.Classify(new SocketException((int)SocketError.OperationAborted)));
        Assert.Equal(AcceptErrorKind.Stop, AcceptErrors.Classify(new ObjectDisposedException("listener")));
        // The same sorting for the errno an event loop's accept4 returns.
        Assert.Equal(AcceptErrorKind.Transient, Epoll.EpollAcceptor.Classify(103));   // ECONNABORTED
        Assert.Equal(AcceptErrorKind.Transient, Epoll.EpollAcceptor.Classify(1));     // EPERM (a firewall)
        Assert.Equal(AcceptErrorKind.BackOff, Epoll.EpollAcceptor.Classify(24));      // EMFILE
        Assert.Equal(AcceptErrorKind.BackOff, Epoll.EpollAcceptor.Classify(105));     // ENOBUFS
        Assert.Equal(AcceptErrorKind.Stop, Epoll.EpollAcceptor.Classify(9));          // EBADF
    }

    [Theory]
    [InlineData("127.0.0.1", "127.0.0.1")]
    [InlineData("0.0.0.0", "127.0.0.1")]   // a wildcard listener: the local end is asked of the socket
    [InlineData("::1", "::1")]
    [InlineData("::", "127.0.0.1")]        // dual mode: an IPv4 client arrives as a mapped address and is shown as IPv4
    public async Task An_accepted_connection_knows_both_its_addresses(string listenOn, string connectTo)
    {
        var echo = new LineEcho();
        await using var listener = TestListener.Start(echo, new ConnectionQuota(10), new ConnectionLimits(), address: System.Net.IPAddress.Parse(listenOn));
        using var client = new TcpClient(connectTo.Contains(':') ? AddressFamily.InterNetworkV6 : AddressFamily.InterNetwork);
        await client.ConnectAsync(System.Net.IPAddress.Parse(connectTo), listener.Port);
        await client.GetStream().WriteAsync("hi\n"u8.ToArray());
        Assert.Equal("hi", await ReadLineAsync(client.GetStream()));
        var connection = echo.Sessions.Single().Connection;
        string Format(System.Net.IPEndPoint e) => e.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{e.Address}]:{e.Port}" : $"{e.Address}:{e.Port}";
        Assert.Equal(Format((System.Net.IPEndPoint)client.Client.LocalEndPoint!), connection.RemoteAddress);
        Assert.Equal(Format((System.Net.IPEndPoint)client.Client.RemoteEndPoint!), connection.LocalAddress);
        var remote = Assert.IsType<System.Net.IPEndPoint>(connection.RemoteEndPoint);
        var mine = (System.Net.IPEndPoint)client.Client.LocalEndPoint!;
        Assert.Equal(mine.Port, remote.Port);
        Assert.Equal(mine.Address, remote.Address.IsIPv4MappedToIPv6 ? remote.Address.MapToIPv4() : remote.Address);   // as .NET's dual-mode sockets report it
    }

    [Fact]
    public async Task A_stopped_listener_accepts_no_more_and_its_port_is_free_again()
    {
        var echo = new LineEcho();
        var listener = TestListener.Start(echo, new ConnectionQuota(10), new ConnectionLimits());
        int port = listener.Port;
        using (var client = new TcpClient())
        {
            await client.ConnectAsync("127.0.0.1", port);
            await client.GetStream().WriteAsync("hi\n"u8.ToArray());
            Assert.Equal("hi", await ReadLineAsync(client.GetStream()));
        }
        await listener.StopAsync().WaitAsync(TimeSpan.FromSeconds(30));
        using var late = new TcpClient();
        await Assert.ThrowsAnyAsync<SocketException>(() => late.ConnectAsync("127.0.0.1", port));
        using var again = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        again.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);   // not past a listening socket
        again.Bind(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, port));   // the listening socket was closed
        await listener.DisposeAsync();
        Assert.Single(echo.Sessions);
    }

    private static async Task Eventually(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("condition not met");
            await Task.Delay(20);
        }
    }
}
