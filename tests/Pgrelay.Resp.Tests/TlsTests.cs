using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using Pgrelay.Transport.Tls;
using StackExchange.Redis;

namespace Pgrelay.Resp.Tests;

/// <summary>The Redis listener over TLS, with certificates the test makes: redis-cli --tls, StackExchange.Redis, mutual TLS.</summary>
public sealed class TlsTests : IDisposable
{
    private readonly TestCertificates _certificates = TestCertificates.Create();

    public void Dispose() => _certificates.Dispose();

    private TlsEndpointOptions Tls(ClientCertificatePolicy clients = ClientCertificatePolicy.None)
    {
        var context = SslStreamCertificateContext.Create(_certificates.Server, null, offline: true);
        var authorities = new X509Certificate2Collection(_certificates.Authority);
        return TlsEndpointOptions.For(() => context, () => authorities, clients);
    }

    [Fact]
    public async Task Redis_cli_talks_over_tls()
    {
        await using var server = await TestServer.StartAsync(tls: Tls());
        Assert.Equal("PONG", await RedisTools.CliAsync(server.Port, "--tls", "--cacert", _certificates.CaFile, "PING"));
        Assert.Equal("Ada", await RedisTools.CliAsync(server.Port, "--tls", "--cacert", _certificates.CaFile, "HGET", "pub.users.1", "name"));
        // Without trusting our CA, redis-cli refuses the server.
        Assert.Contains("SSL", await RedisTools.CliAsync(server.Port, "--tls", "PING"), StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task StackExchange_redis_talks_over_tls()
    {
        await using var server = await TestServer.StartAsync(tls: Tls());
        var options = new ConfigurationOptions { EndPoints = { { "127.0.0.1", server.Port } }, Ssl = true, SslHost = "localhost", AbortOnConnectFail = true, ConnectTimeout = 15000 };
        options.TrustIssuer(_certificates.CaFile);
        await using var redis = await ConnectionMultiplexer.ConnectAsync(options);
        var db = redis.GetDatabase();
        Assert.Equal("Grace", (string?)await db.HashGetAsync("pub.users.2", "name"));
        var all = await db.HashGetAllAsync("pub.cities.Tulsa/OK");
        Assert.Contains(all, e => e.Name == "population" && e.Value == "413066");
        Assert.True(server.Server.Clients.All.All(c => c.Connection.IsSecure));
    }

    [Fact]
    public async Task Mutual_tls_requires_a_client_certificate_from_the_ca()
    {
        await using var server = await TestServer.StartAsync(tls: Tls(ClientCertificatePolicy.Required));
        var refused = await RedisTools.CliAsync(server.Port, "--tls", "--cacert", _certificates.CaFile, "PING");
        Assert.NotEqual("PONG", refused);
        Assert.Equal("PONG", await RedisTools.CliAsync(server.Port, "--tls", "--cacert", _certificates.CaFile,
            "--cert", _certificates.ClientCertFile, "--key", _certificates.ClientKeyFile, "PING"));

        // A certificate from another CA is refused too.
        using var stranger = TestCertificates.Create();
        Assert.NotEqual("PONG", await RedisTools.CliAsync(server.Port, "--tls", "--cacert", _certificates.CaFile,
            "--cert", stranger.ClientCertFile, "--key", stranger.ClientKeyFile, "PING"));

        // The session sees who the client is.
        using var tcp = new TcpClient();
        await tcp.ConnectAsync("127.0.0.1", server.Port);
        using var ssl = new SslStream(tcp.GetStream());
        await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = "localhost",
            ClientCertificates = [_certificates.Client],
            RemoteCertificateValidationCallback = (_, certificate, _, _) => certificate?.Issuer == _certificates.Authority.Subject,
        });
        await ssl.WriteAsync("PING\r\n"u8.ToArray());
        var pong = new byte[7];
        await ssl.ReadExactlyAsync(pong);
        Assert.Equal("+PONG\r\n", System.Text.Encoding.ASCII.GetString(pong));
        Assert.Equal("CN=pgrelay test client", Assert.Single(server.Server.Clients.All).Connection.ClientCertificate?.Subject);
    }

    [Fact]
    public async Task StackExchange_redis_talks_mutual_tls_with_a_certificate_from_the_ca()
    {
        await using var server = await TestServer.StartAsync(tls: Tls(ClientCertificatePolicy.Required));
        ConfigurationOptions Options(X509Certificate2? client)
        {
            var options = new ConfigurationOptions { EndPoints = { { "127.0.0.1", server.Port } }, Ssl = true, SslHost = "localhost", AbortOnConnectFail = true, ConnectTimeout = 15000 };
            options.TrustIssuer(_certificates.CaFile);
            if (client is not null) options.CertificateSelection += (_, _, _, _, _) => client;
            return options;
        }
        await using (var redis = await ConnectionMultiplexer.ConnectAsync(Options(_certificates.Client)))
        {
            Assert.Equal("Grace", (string?)await redis.GetDatabase().HashGetAsync("pub.users.2", "name"));
            Assert.Equal("CN=pgrelay test client", server.Server.Clients.All.First().Connection.ClientCertificate?.Subject);
        }
        await Assert.ThrowsAsync<RedisConnectionException>(() => ConnectionMultiplexer.ConnectAsync(Options(null)));
    }

    [Fact]
    public async Task Protected_mode_denies_a_remote_tls_client_after_the_handshake_in_redis_words()
    {
        if (ProtectedModeTests.OwnNonLoopbackAddress() is not { } remote) return;   // no second address to come from
        await using var server = await TestServer.StartAsync(new RespOptions { BindAddress = System.Net.IPAddress.Any, Password = "pw" }, tls: Tls());

        // The first line a new client from <host> hears after PING, and (after DENIED) whether the server closed next.
        async Task<(byte[] Line, bool Closed)> FirstReply(string host)
        {
            using var tcp = new TcpClient();
            await tcp.ConnectAsync(host, server.Port);
            using var ssl = new SslStream(tcp.GetStream());
            await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
            {
                TargetHost = "localhost",
                RemoteCertificateValidationCallback = (_, certificate, _, _) => certificate?.Issuer == _certificates.Authority.Subject,
            });
            await ssl.WriteAsync("PING\r\n"u8.ToArray());
            var line = new List<byte>();
            var one = new byte[1];
            while (line.Count < 2 || line[^2] != '\r' || line[^1] != '\n')
            {
                if (await ssl.ReadAsync(one).AsTask().WaitAsync(TimeSpan.FromSeconds(30)) == 0) return (line.ToArray(), true);
                line.Add(one[0]);
            }
            if (!line.ToArray().AsSpan().StartsWith("-DENIED"u8)) return (line.ToArray(), false);   // others stay open
            int more;
            try { more = await ssl.ReadAsync(one).AsTask().WaitAsync(TimeSpan.FromSeconds(30)); }
            catch (IOException) { more = 0; }
            return (line.ToArray(), more == 0);
        }

        var before = await FirstReply(remote);
        Assert.StartsWith("-NOAUTH", System.Text.Encoding.ASCII.GetString(before.Line));
        Assert.False(before.Closed);
        await using (var admin = await ConnectionMultiplexer.ConnectAsync(AdminOptions(server.Port)))
            await admin.GetDatabase().ExecuteAsync("ACL", "SETUSER", "default", "nopass");
        var denied = await FirstReply(remote);
        Assert.Equal(Acl.ProtectedMode.DeniedReply.ToArray(), denied.Line);   // over TLS, then closed
        Assert.True(denied.Closed);
        Assert.Equal(1, server.Server.Stats.RejectedConnections);
        Assert.Equal("+PONG\r\n"u8.ToArray(), (await FirstReply("127.0.0.1")).Line);
    }

    private ConfigurationOptions AdminOptions(int port)
    {
        var options = new ConfigurationOptions { EndPoints = { { "127.0.0.1", port } }, Ssl = true, SslHost = "localhost", Password = "pw", AbortOnConnectFail = true, ConnectTimeout = 15000 };
        options.TrustIssuer(_certificates.CaFile);
        return options;
    }

    [Fact]
    public async Task Optional_client_certificates_let_clients_without_one_in()
    {
        await using var server = await TestServer.StartAsync(tls: Tls(ClientCertificatePolicy.Optional));
        Assert.Equal("PONG", await RedisTools.CliAsync(server.Port, "--tls", "--cacert", _certificates.CaFile, "PING"));
        using var stranger = TestCertificates.Create();
        Assert.NotEqual("PONG", await RedisTools.CliAsync(server.Port, "--tls", "--cacert", _certificates.CaFile,
            "--cert", stranger.ClientCertFile, "--key", stranger.ClientKeyFile, "PING"));
    }

    [Fact]
    public async Task A_client_that_never_finishes_the_handshake_is_closed()
    {
        await using var server = await TestServer.StartAsync(new RespOptions(), tls: Tls());
        using var tcp = new TcpClient();
        await tcp.ConnectAsync("127.0.0.1", server.Port);
        await tcp.GetStream().WriteAsync(new byte[] { 0x16, 0x03, 0x01 });   // the start of a ClientHello, then nothing
        Assert.Equal("", await Wire.ReadToEndAsync(tcp.GetStream()));     // closed by the handshake timeout (10 s)
    }

    [Fact]
    public async Task Plain_text_on_the_tls_port_is_refused()
    {
        await using var server = await TestServer.StartAsync(tls: Tls());
        Assert.Equal("", await Wire.ExchangeAsync(server.Port, "PING\r\n"u8.ToArray()));
        Assert.Equal("PONG", await RedisTools.CliAsync(server.Port, "--tls", "--cacert", _certificates.CaFile, "PING"));
    }
}
