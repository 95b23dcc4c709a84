using System.Diagnostics;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Text;
using Pgrelay.Transport.Tls;

namespace Pgrelay.Transport.Tests;

/// <summary>
/// TLS connections on the event loop: the handshake and the records run on the loop's thread, whatever pieces the
/// ciphertext and the plaintext arrive in, and the limits hold as on plain connections.
/// </summary>
public sealed class TlsOnLoopTests : IDisposable
{
    private readonly TestCertificates _certificates = TestCertificates.Create();
    private readonly SslStreamCertificateContext _context;

    public TlsOnLoopTests() => _context = SslStreamCertificateContext.Create(_certificates.Server, null, offline: true);

    public void Dispose() => _certificates.Dispose();

    private TestListener Start(LineEcho echo, ConnectionLimits? limits = null) =>
        TestListener.Start(echo, new ConnectionQuota(100), limits ?? new ConnectionLimits(), TlsEndpointOptions.For(() => _context));

    private static async Task<SslStream> ConnectAsync(int port, Func<Stream, Stream>? wrap = null, SslProtocols protocols = SslProtocols.None)
    {
        var tcp = new TcpClient { NoDelay = true };
        await tcp.ConnectAsync("127.0.0.1", port);
        Stream stream = tcp.GetStream();
        if (wrap is not null) stream = wrap(stream);
        var ssl = new SslStream(stream, leaveInnerStreamOpen: false);
        using var guard = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = "localhost",
            EnabledSslProtocols = protocols,
            RemoteCertificateValidationCallback = (_, _, _, _) => true,
        }, guard.Token);
        return ssl;
    }

    private static async Task<string> ReadLineAsync(Stream stream)
    {
        var line = new List<byte>();
        var one = new byte[1];
        using var guard = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (true)
        {
            if (await stream.ReadAsync(one, guard.Token) == 0) return line.Count == 0 ? "<closed>" : Encoding.ASCII.GetString([.. line]);
            if (one[0] == '\n') return Encoding.ASCII.GetString([.. line]);
            line.Add(one[0]);
        }
    }

    private static async Task<bool> IsClosedAsync(Stream stream)
    {
        using var guard = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var buffer = new byte[64 * 1024];
        try
        {
            while (true) if (await stream.ReadAsync(buffer, guard.Token) == 0) return true;
        }
        catch (IOException) { return true; }
        catch (OperationCanceledException) { return false; }
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

    [Fact]
    public async Task Tls_requests_run_on_the_event_loop_thread_and_pipelines_and_pushes_come_back_whole()
    {
        var echo = new LineEcho();
        await using var listener = Start(echo);
        await using var ssl = await ConnectAsync(listener.Port);
        var pipeline = string.Concat(Enumerable.Range(0, 5000).Select(i => $"line {i}\n"));
        await ssl.WriteAsync(Encoding.ASCII.GetBytes(pipeline + "push 3\nlast\n"));
        for (int i = 0; i < 5000; i++) Assert.Equal($"line {i}", await ReadLineAsync(ssl));
        var rest = new[] { await ReadLineAsync(ssl), await ReadLineAsync(ssl), await ReadLineAsync(ssl), await ReadLineAsync(ssl) };
        Assert.Equal(3, rest.Count(l => l == "pushed"));
        Assert.Contains("last", rest);
        // A reply of many records, sent in many pieces.
        await ssl.WriteAsync("blob 3000000\n"u8.ToArray());
        var blob = new byte[3_000_001];
        await ssl.ReadExactlyAsync(blob);
        Assert.True(blob.AsSpan(0, 3_000_000).IndexOfAnyExcept((byte)'x') < 0 && blob[^1] == '\n');
        var session = echo.Sessions.Single();
        Assert.StartsWith("pgrelay-io-", session.ConsumeThread);   // no thread-pool hop: decrypted and run by the loop
        Assert.True(session.Connection.IsSecure);
        await ssl.WriteAsync("quit\n"u8.ToArray());
        Assert.Equal("quit", await ReadLineAsync(ssl));
        Assert.True(await IsClosedAsync(ssl));
        await Eventually(() => session.ClosedCalls == 1 && listener.Listener.ConnectionCount == 0);
    }

    [Fact]
    public async Task A_handshake_and_requests_trickled_one_byte_at_a_time_are_answered()
    {
        var echo = new LineEcho();
        await using var listener = Start(echo);
        await using var ssl = await ConnectAsync(listener.Port, s => new TrickleStream(s));
        await ssl.WriteAsync("trickled\n"u8.ToArray());
        Assert.Equal("trickled", await ReadLineAsync(ssl));
        Assert.StartsWith("pgrelay-io-", echo.Sessions.Single().ConsumeThread);
    }

    [Theory]
    [InlineData(SslProtocols.Tls12)]
    [InlineData(SslProtocols.Tls13)]
    public async Task Input_split_at_every_byte_across_records_is_answered_whole(SslProtocols protocol)
    {
        var echo = new LineEcho();
        await using var listener = Start(echo);
        await using var ssl = await ConnectAsync(listener.Port, protocols: protocol);
        var line = "split across records\n"u8.ToArray();
        // Every split point: the line's head in one record, its tail in the next (each WriteAsync is one record).
        for (int cut = 1; cut < line.Length; cut++)
        {
            await ssl.WriteAsync(line.AsMemory(0, cut));
            await ssl.WriteAsync(line.AsMemory(cut));
            Assert.Equal("split across records", await ReadLineAsync(ssl));
        }
        // One record per byte, then many lines in one record, then a line whose records arrive one byte at a time.
        foreach (var b in line) await ssl.WriteAsync(new[] { b });
        Assert.Equal("split across records", await ReadLineAsync(ssl));
        await ssl.WriteAsync(Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat("many\n", 1000))));
        for (int i = 0; i < 1000; i++) Assert.Equal("many", await ReadLineAsync(ssl));
    }

    [Fact]
    public async Task Requests_sent_with_the_clients_last_handshake_flight_are_answered()
    {
        var echo = new LineEcho();
        await using var listener = Start(echo);
        // TLS 1.3: the client's Finished ends its handshake; the first request goes out in the same segment.
        TrickleStream? held = null;
        await using var ssl = await ConnectAsync(listener.Port, s => held = new TrickleStream(s, holdAfterFirstRead: true), SslProtocols.Tls13);
        await ssl.WriteAsync("with the finished\n"u8.ToArray());
        await held!.ReleaseAsync();
        Assert.Equal("with the finished", await ReadLineAsync(ssl));
    }

    [Fact]
    public async Task A_handshake_that_never_finishes_is_closed_at_the_limit_and_gives_its_place_back()
    {
        var echo = new LineEcho();
        await using var listener = TestListener.Start(echo, new ConnectionQuota(2), new ConnectionLimits { TlsHandshakeTimeout = TimeSpan.FromSeconds(1) },
            TlsEndpointOptions.For(() => _context));
        using var silent = new TcpClient();
        await silent.ConnectAsync("127.0.0.1", listener.Port);
        using var partial = new TcpClient();
        await partial.ConnectAsync("127.0.0.1", listener.Port);
        await partial.GetStream().WriteAsync(new byte[] { 0x16, 0x03, 0x01, 0x02 });   // the start of a ClientHello, then nothing
        Assert.True(await IsClosedAsync(silent.GetStream()));
        Assert.True(await IsClosedAsync(partial.GetStream()));
        await Eventually(() => listener.Listener.ConnectionCount == 0);
        Assert.Empty(echo.Sessions);
        // Both places in the quota are free again.
        await using var first = await ConnectAsync(listener.Port);
        await using var second = await ConnectAsync(listener.Port);
        await second.WriteAsync("in\n"u8.ToArray());
        Assert.Equal("in", await ReadLineAsync(second));
    }

    [Fact]
    public async Task Plain_text_and_garbage_on_the_tls_port_close_the_connection_and_the_loop_serves_on()
    {
        var echo = new LineEcho();
        await using var listener = Start(echo);
        using (var plain = new TcpClient())
        {
            await plain.ConnectAsync("127.0.0.1", listener.Port);
            await plain.GetStream().WriteAsync("hello\n"u8.ToArray());
            Assert.True(await IsClosedAsync(plain.GetStream()));
        }
        await using var ssl = await ConnectAsync(listener.Port);
        await ssl.WriteAsync("still\n"u8.ToArray());
        Assert.Equal("still", await ReadLineAsync(ssl));
        await Eventually(() => listener.Listener.ConnectionCount == 1);
    }

    [Fact]
    public async Task A_tls_client_that_never_reads_is_closed_by_the_output_limit()
    {
        var echo = new LineEcho();   // its replies fall under the pub/sub class
        await using var listener = Start(echo, new ConnectionLimits { PubSub = new OutputBufferLimit(1024 * 1024, 0, 0) });
        await using var ssl = await ConnectAsync(listener.Port);
        var requests = Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat("blob 1000000\n", 16)));
        try
        {
            for (int i = 0; i < 8 && listener.Listener.ConnectionCount > 0; i++) await ssl.WriteAsync(requests);   // up to 128 MB of replies, none read
        }
        catch (IOException)
        {
            // closed while writing: what the test waits for
        }
        await Eventually(() => listener.Listener.ConnectionCount == 0);
        Assert.Equal(CloseReason.OutputBufferLimit, echo.Sessions.Single().Connection.CloseReason);
    }

    [Fact]
    public async Task A_close_notify_ends_the_connection_and_the_session_hears_of_it_once()
    {
        var echo = new LineEcho();
        await using var listener = Start(echo);
        await using var ssl = await ConnectAsync(listener.Port);
        await ssl.WriteAsync("before\n"u8.ToArray());
        Assert.Equal("before", await ReadLineAsync(ssl));
        await ssl.ShutdownAsync();   // close_notify, the TCP connection stays open
        Assert.True(await IsClosedAsync(ssl));
        await Eventually(() => listener.Listener.ConnectionCount == 0 && echo.Sessions.Single().ClosedCalls == 1);
        Assert.Equal(CloseReason.ClientGone, echo.Sessions.Single().Connection.CloseReason);
    }

    [Fact]
    public async Task A_tls13_key_update_asking_for_ours_leaves_the_connection_serving()
    {
        var echo = new LineEcho();
        await using var listener = Start(echo);
        using var client = OpensslClient.Start(listener.Port, "-tls1_3");
        await client.SendAsync("one\n");
        Assert.True(await client.WaitForAsync("one"), client.Output);
        await client.SendAsync("K\n");   // KeyUpdate with update_requested: the server must answer with its own
        await client.SendAsync("two\n");
        Assert.True(await client.WaitForAsync("two"), client.Output);
        await client.SendAsync("three\n");
        Assert.True(await client.WaitForAsync("three"), client.Output);
    }

    [Fact]
    public async Task A_client_initiated_renegotiation_is_refused_and_the_connection_ends_cleanly()
    {
        // As redis-server (SSL_OP_NO_CLIENT_RENEGOTIATION): a renegotiating client costs the server a handshake each time.
        var echo = new LineEcho();
        await using var listener = Start(echo);
        using var client = OpensslClient.Start(listener.Port, "-tls1_2");
        await client.SendAsync("one\n");
        Assert.True(await client.WaitForAsync("one"), client.Output);
        await client.SendAsync("R\n");
        await client.SendAsync("two\n");
        Assert.False(await client.WaitForAsync("two"), client.Output);
        await Eventually(() => listener.Listener.ConnectionCount == 0 && echo.Sessions.Single().ClosedCalls == 1);
        // The loop serves the next client.
        await using var ssl = await ConnectAsync(listener.Port);
        await ssl.WriteAsync("next\n"u8.ToArray());
        Assert.Equal("next", await ReadLineAsync(ssl));
    }

    /// <summary>
    /// A client's transport that writes one byte per send with a pause between them, so the server receives its
    /// handshake and records in one-byte pieces; or (<c>holdAfterFirstRead</c>) that holds every write made after the
    /// server first spoke until <see cref="ReleaseAsync"/>, so the client's last handshake flight and its first
    /// records reach the server in one piece.
    /// </summary>
    private sealed class TrickleStream(Stream inner, bool holdAfterFirstRead = false) : Stream
    {
        private readonly MemoryStream _held = new();
        private bool _holding, _released;

        public async Task ReleaseAsync()
        {
            _released = true;
            _holding = false;
            await inner.WriteAsync(_held.ToArray());
        }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            int n = await inner.ReadAsync(buffer, cancellationToken);
            if (holdAfterFirstRead && n > 0 && !_released) _holding = true;
            return n;
        }

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (_holding)
            {
                _held.Write(buffer.Span);
                return;
            }
            if (holdAfterFirstRead)
            {
                await inner.WriteAsync(buffer, cancellationToken);
                return;
            }
            for (int i = 0; i < buffer.Length; i++)
            {
                await inner.WriteAsync(buffer.Slice(i, 1), cancellationToken);
                await Task.Delay(1, cancellationToken);
            }
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override Task FlushAsync(CancellationToken cancellationToken) => _holding ? Task.CompletedTask : inner.FlushAsync(cancellationToken);
        public override void Flush() => inner.Flush();
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override bool CanRead => true;
        public override bool CanWrite => true;
        public override bool CanSeek => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing) inner.Dispose();
            base.Dispose(disposing);
        }
    }

    /// <summary><c>openssl s_client</c> driven line by line: its interactive commands (R, K) are what no .NET client sends.</summary>
    private sealed class OpensslClient : IDisposable
    {
        private readonly Process _process;
        private readonly StringBuilder _output = new();

        private OpensslClient(Process process)
        {
            _process = process;
            process.OutputDataReceived += (_, e) => { lock (_output) _output.AppendLine(e.Data); };
            process.ErrorDataReceived += (_, e) => { lock (_output) _output.AppendLine(e.Data); };
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
        }

        public string Output
        {
            get { lock (_output) return _output.ToString(); }
        }

        public static OpensslClient Start(int port, string version)
        {
            var info = new ProcessStartInfo("openssl", ["s_client", "-connect", $"127.0.0.1:{port}", version, "-servername", "localhost"])
            {
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            return new OpensslClient(Process.Start(info)!);
        }

        public async Task SendAsync(string text)
        {
            try
            {
                await _process.StandardInput.WriteAsync(text);
                await _process.StandardInput.FlushAsync();
            }
            catch (IOException)
            {
                return;   // it has exited: the connection ended
            }
            await Task.Delay(200);   // s_client reads its commands only at the start of a read from stdin
        }

        /// <summary>True once a line equal to <paramref name="line"/> came back; false if the connection ended first or 30 s passed.</summary>
        public async Task<bool> WaitForAsync(string line)
        {
            var deadline = DateTime.UtcNow.AddSeconds(30);
            while (DateTime.UtcNow < deadline)
            {
                if (Output.Split('\n').Any(l => l.TrimEnd('\r') == line)) return true;
                if (_process.HasExited && _process.WaitForExit(10_000)) return Output.Split('\n').Any(l => l.TrimEnd('\r') == line);
                await Task.Delay(20);
            }
            return false;
        }

        public void Dispose()
        {
            try
            {
                if (!_process.HasExited) _process.Kill();
                _process.WaitForExit(10_000);
            }
            catch (InvalidOperationException)
            {
            }
            _process.Dispose();
        }
    }
}
