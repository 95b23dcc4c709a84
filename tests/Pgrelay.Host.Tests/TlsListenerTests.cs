using System.Diagnostics;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Npgsql;
using Pgrelay.Configuration;
using Pgrelay.Hosting;
using Pgrelay.Replication.Local;

namespace Pgrelay.Host.Tests;

/// <summary>
/// The whole product with TLS on the Redis (tls-port) and memcached (memcached-tls) listeners, certificates made by the
/// test: a round trip on each, and a certificate replaced on disk taking effect for new connections without a restart.
/// </summary>
public class TlsListenerTests
{
    [Fact]
    public async Task Tls_listeners_serve_rows_and_pick_up_a_renewed_certificate_without_a_restart()
    {
        await using var cluster = await PrivatePostgresCluster.StartAsync();
        await using (var connection = new NpgsqlConnection(cluster.ConnectionString))
        {
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand("""
                CREATE TABLE cities (name text, state text, population int, PRIMARY KEY (name, state));
                INSERT INTO cities VALUES ('Tulsa', 'OK', 413066);
                CREATE PUBLICATION pub FOR TABLE cities;
                """, connection);
            await command.ExecuteNonQueryAsync();
        }
        using var certificates = TestCertificates.Create("first");
        int resp = FreeTcpPort.Next(), tls = FreeTcpPort.Next(), memcachedTls = FreeTcpPort.Next();
        var settings = SettingsLoader.Load(new Dictionary<string, string?>
        {
            ["source"] = cluster.UrlFor("postgres"),
            ["publication"] = "pub",
            ["http"] = "off",
            ["resp"] = $"127.0.0.1:{resp}",
            ["tls-port"] = tls.ToString(),
            ["memcached"] = "off",
            ["memcached-tls"] = $"127.0.0.1:{memcachedTls}",
            ["tls-cert-file"] = certificates.ServerCertFile,
            ["tls-key-file"] = certificates.ServerKeyFile,
        }, new Dictionary<string, string?>());
        await using var app = PgrelayHost.Build(settings);
        await app.StartAsync();

        await Eventually.True(async () => await Cli(tls, certificates, "HGET", "pub.cities.Tulsa/OK", "population") == "413066", "the row over Redis TLS");
        Assert.Equal("PONG", await Cli(resp, null, "PING"));   // the plain port still speaks plain
        var (subject, reply) = await MemcachedOverTls(memcachedTls, "get pub.cities.Tulsa/OK\r\n");
        Assert.Equal("CN=first", subject);
        Assert.StartsWith("VALUE pub.cities.Tulsa/OK 0 ", reply);

        // Renew: new files in place. New connections get the new certificate; the process keeps running.
        certificates.Issue("second", serverAuth: true, certificates.ServerCertFile, certificates.ServerKeyFile);
        File.SetLastWriteTimeUtc(certificates.ServerCertFile, DateTime.UtcNow.AddSeconds(5));
        await Eventually.True(async () => (await MemcachedOverTls(memcachedTls, "version\r\n")).Subject == "CN=second", "the renewed certificate", 30);
        Assert.Equal("413066", await Cli(tls, certificates, "HGET", "pub.cities.Tulsa/OK", "population"));
        await app.StopAsync();
    }

    private static async Task<string> Cli(int port, TestCertificates? tls, params string[] args)
    {
        var start = new ProcessStartInfo("redis-cli") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "-h", "127.0.0.1", "-p", port.ToString() }) start.ArgumentList.Add(a);
        if (tls is not null) foreach (var a in new[] { "--tls", "--cacert", tls.CaFile }) start.ArgumentList.Add(a);
        foreach (var a in args) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await process.WaitForExitAsync(cts.Token);
        return (await output).TrimEnd('\n');
    }

    private static async Task<(string Subject, string Reply)> MemcachedOverTls(int port, string request)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync("127.0.0.1", port);
        using var ssl = new SslStream(tcp.GetStream());
        X509Certificate? seen = null;
        await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = "localhost",
            RemoteCertificateValidationCallback = (_, certificate, _, _) => (seen = certificate) is not null,
        });
        await ssl.WriteAsync(Encoding.ASCII.GetBytes(request));
        var buffer = new byte[4096];
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        int n = await ssl.ReadAsync(buffer, cts.Token);
        return (seen!.Subject, Encoding.ASCII.GetString(buffer, 0, n));
    }
}
