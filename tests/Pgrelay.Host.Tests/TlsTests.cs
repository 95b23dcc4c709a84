using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Pgrelay.Configuration;
using Pgrelay.Hosting;
using Pgrelay.Replication.Local;

namespace Pgrelay.Host.Tests;

/// <summary>
/// One PostgreSQL cluster with <c>ssl = on</c> and a certificate from a CA the tests make (naming <c>localhost</c> only,
/// so 127.0.0.1 is a wrong host name for it), with a published table. It is both the source the HTTPS tests replicate
/// from and the server the verify-full tests check.
/// </summary>
public sealed class TlsPostgres : IAsyncLifetime
{
    public TestCertificates Authority { get; private set; } = null!;
    public PrivatePostgresCluster Cluster { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Authority = TestCertificates.CreateAuthority("pg");
        var (certificate, key) = Authority.IssueServer("postgres", ["localhost"]);
        if (Environment.UserName == "root") Authority.GiveTo("postgres", certificate, key);   // the harness runs PostgreSQL as postgres
        var options = new PrivateClusterOptions();
        options.ExtraSettings.Add("ssl = on");
        options.ExtraSettings.Add($"ssl_cert_file = '{certificate}'");
        options.ExtraSettings.Add($"ssl_key_file = '{key}'");
        Cluster = await PrivatePostgresCluster.StartAsync(options);
        await Sql("postgres", """
            CREATE TABLE cities (name text, state text, population int, PRIMARY KEY (name, state));
            INSERT INTO cities VALUES ('Tulsa', 'OK', 413066);
            CREATE PUBLICATION pub FOR TABLE cities;
            CREATE DATABASE target;
            """);
    }

    public async Task Sql(string database, string sql)
    {
        await using var conn = new NpgsqlConnection(Cluster.ConnectionStringFor(database));
        await conn.OpenAsync();
        foreach (var statement in sql.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            await using var cmd = new NpgsqlCommand(statement, conn);
            await cmd.ExecuteNonQueryAsync();
        }
    }

    public async Task<T> Scalar<T>(string database, string sql)
    {
        await using var conn = new NpgsqlConnection(Cluster.ConnectionStringFor(database));
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, conn);
        return (T)(await cmd.ExecuteScalarAsync())!;
    }

    /// <summary>A URL to this cluster through <paramref name="host"/>, verifying the server against <paramref name="rootCertificate"/>.</summary>
    public string VerifyFullUrl(string host, string database, string rootCertificate) =>
        $"postgres://postgres@{host}:{Cluster.Port}/{database}?sslmode=verify-full&sslrootcert={Uri.EscapeDataString(rootCertificate)}";

    public async Task DisposeAsync()
    {
        await Cluster.DisposeAsync();
        Authority.Dispose();
    }
}

public sealed class TlsTests(TlsPostgres postgres) : IClassFixture<TlsPostgres>
{
    private static async Task<(int Code, string Output)> Curl(params string[] args)
    {
        var info = new System.Diagnostics.ProcessStartInfo("curl") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in (string[])["-sS", "--max-time", "20", .. args]) info.ArgumentList.Add(a);
        using var process = System.Diagnostics.Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(bound.Token);
        return (process.ExitCode, await stdout + await stderr);
    }

    private async Task<WebApplication> StartAsync(int httpsPort, Dictionary<string, string?> tls, Dictionary<string, string?>? more = null)
    {
        var flags = new Dictionary<string, string?>
        {
            ["source"] = postgres.Cluster.UrlFor("postgres"),
            ["publication"] = "pub",
            ["slot"] = "tls_" + Guid.NewGuid().ToString("N")[..8],
            ["http"] = "off",
            ["https"] = $"127.0.0.1:{httpsPort}",
            ["resp"] = "off",
            ["memcached"] = "off",
        };
        foreach (var (k, v) in tls) flags[k] = v;
        foreach (var (k, v) in more ?? []) flags[k] = v;
        var app = PgrelayHost.Build(SettingsLoader.Load(flags, new Dictionary<string, string?>()));
        await app.StartAsync();
        return app;
    }

    [Fact]
    public async Task Https_serves_rows_with_the_configured_certificate_and_reloads_a_replaced_one_without_restart()
    {
        using var web = TestCertificates.CreateAuthority("web");
        var (certificate, key) = web.IssueServer("web", ["localhost"], [IPAddress.Loopback]);
        int port = FreeTcpPort.Next();
        await using var app = await StartAsync(port, new() { ["tls-cert-file"] = certificate, ["tls-key-file"] = key });
        var url = $"https://127.0.0.1:{port}";

        await Eventually.True(async () => (await Curl("--cacert", web.CaFile, url + "/pub/cities/Tulsa/OK")).Output.Contains("413066"), "a row over HTTPS");
        Assert.Equal(60, (await Curl(url + "/healthz")).Code);   // curl: peer certificate cannot be authenticated with known CA certificates
        Assert.Equal(0, (await Curl("--http2", "--cacert", web.CaFile, "-o", "/dev/null", "-w", "%{http_version}", url + "/healthz")).Code);

        // A new certificate from another CA, written over the same files as a deployment would (certificate first, then key).
        using var renewed = TestCertificates.CreateAuthority("web-renewed");
        var (newCertificate, newKey) = renewed.IssueServer("renewed", ["localhost"], [IPAddress.Loopback]);
        TestCertificates.WriteAtomically(certificate, File.ReadAllText(newCertificate), UnixFileMode.UserRead | UnixFileMode.UserWrite);
        TestCertificates.WriteAtomically(key, File.ReadAllText(newKey), UnixFileMode.UserRead | UnixFileMode.UserWrite);
        await Eventually.True(async () => (await Curl("--cacert", renewed.CaFile, url + "/healthz")).Code == 0, "the renewed certificate on new connections");
        Assert.Equal(60, (await Curl("--cacert", web.CaFile, url + "/healthz")).Code);

        // A broken replacement is refused and the renewed certificate stays in service.
        File.WriteAllText(key, "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n");
        app.Services.GetRequiredService<TlsCertificateReloader>().ReloadIfChanged();
        Assert.Equal(0, (await Curl("--cacert", renewed.CaFile, url + "/healthz")).Code);
        await app.StopAsync();
    }

    [Fact]
    public async Task Mutual_tls_accepts_only_client_certificates_from_the_configured_ca()
    {
        using var web = TestCertificates.CreateAuthority("web");
        var (certificate, key) = web.IssueServer("web", ["localhost"], [IPAddress.Loopback]);
        using var clients = TestCertificates.CreateAuthority("clients");
        var (alice, aliceKey) = clients.IssueClient("alice", "alice");
        using var strangers = TestCertificates.CreateAuthority("strangers");
        var (mallory, malloryKey) = strangers.IssueClient("mallory", "mallory");
        int port = FreeTcpPort.Next();
        await using var app = await StartAsync(port, new()
        {
            ["tls-cert-file"] = certificate, ["tls-key-file"] = key, ["tls-ca-cert-file"] = clients.CaFile,   // tls-auth-clients: yes by default
        });
        var url = $"https://127.0.0.1:{port}/healthz";

        await Eventually.True(async () => (await Curl("--cacert", web.CaFile, "--cert", alice, "--key", aliceKey, url)).Code == 0, "a client certificate from the CA");
        Assert.NotEqual(0, (await Curl("--cacert", web.CaFile, url)).Code);
        Assert.NotEqual(0, (await Curl("--cacert", web.CaFile, "--cert", mallory, "--key", malloryKey, url)).Code);
        await app.StopAsync();

        int optionalPort = FreeTcpPort.Next();
        await using var optional = await StartAsync(optionalPort, new()
        {
            ["tls-cert-file"] = certificate, ["tls-key-file"] = key, ["tls-ca-cert-file"] = clients.CaFile, ["tls-auth-clients"] = "optional",
        });
        var optionalUrl = $"https://127.0.0.1:{optionalPort}/healthz";
        await Eventually.True(async () => (await Curl("--cacert", web.CaFile, optionalUrl)).Code == 0, "no client certificate, optional");
        Assert.Equal(0, (await Curl("--cacert", web.CaFile, "--cert", alice, "--key", aliceKey, optionalUrl)).Code);
        Assert.NotEqual(0, (await Curl("--cacert", web.CaFile, "--cert", mallory, "--key", malloryKey, optionalUrl)).Code);
        await optional.StopAsync();
    }

    [Fact]
    public async Task Unusable_tls_files_stop_start_up_with_one_line_naming_the_setting()
    {
        using var web = TestCertificates.CreateAuthority("web");
        var (certificate, _) = web.IssueServer("web", ["localhost"]);
        var (_, otherKey) = web.IssueServer("other", ["localhost"]);
        await using var process = PgrelayProcess.Start("run", "--source", "postgres://u@127.0.0.1:1/db", "--publication", "p",
            "--https", "127.0.0.1:0", "--tls-cert-file", certificate, "--tls-key-file", otherKey);
        Assert.Equal(2, await process.WaitForExitAsync());
        var line = process.Stderr.Trim();
        Assert.DoesNotContain("\n", line);
        Assert.StartsWith("pgrelay: tls-key-file: ", line);
    }

    [Fact]
    public async Task Replication_and_the_postgres_sink_connect_with_verify_full()
    {
        int port = FreeTcpPort.Next();
        var flags = new Dictionary<string, string?>
        {
            ["source"] = postgres.VerifyFullUrl("localhost", "postgres", postgres.Authority.CaFile),
            ["publication"] = "pub",
            ["slot"] = "tls_verify_full",
            ["http"] = $"127.0.0.1:{port}",
            ["resp"] = "off",
            ["memcached"] = "off",
            ["sink"] = "postgres:" + postgres.VerifyFullUrl("localhost", "target", postgres.Authority.CaFile),
        };
        await using var app = PgrelayHost.Build(SettingsLoader.Load(flags, new Dictionary<string, string?>()));
        await app.StartAsync();
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
        await postgres.Sql("postgres", "INSERT INTO cities VALUES ('Nome', 'AK', 3699)");
        await Eventually.Get(() => http.GetAsync("/pub/cities/Nome/AK"), r => r.StatusCode == HttpStatusCode.OK, "the insert, replicated over TLS");
        await Eventually.True(async () => await postgres.Scalar<long>("target", "SELECT count(*) FROM to_regclass('public.cities') t WHERE t IS NOT NULL") == 1
            && await postgres.Scalar<long>("target", "SELECT count(*) FROM public.cities WHERE name = 'Nome'") == 1, "the insert in the sink's target");
        // Every pgrelay session, the walsender included, is encrypted.
        var plain = await postgres.Scalar<long>("postgres",
            "SELECT count(*) FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) WHERE a.application_name LIKE 'pgrelay%' AND NOT s.ssl");
        var encrypted = await postgres.Scalar<long>("postgres",
            "SELECT count(*) FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) WHERE a.application_name LIKE 'pgrelay%' AND s.ssl");
        Assert.Equal(0, plain);
        Assert.True(encrypted >= 2, $"{encrypted} encrypted pgrelay sessions");
        await app.StopAsync();
    }

    [Theory]
    [InlineData("127.0.0.1", false)]   // the certificate names localhost only
    [InlineData("localhost", true)]    // right host, but sslrootcert is a CA that did not sign it
    public async Task Verify_full_refuses_a_wrong_host_or_an_unknown_ca_with_one_line(string host, bool otherAuthority)
    {
        using var other = TestCertificates.CreateAuthority("other");
        var root = otherAuthority ? other.CaFile : postgres.Authority.CaFile;
        await using var process = PgrelayProcess.Start("run", "--source", postgres.VerifyFullUrl(host, "postgres", root), "--publication", "pub",
            "--http", "off", "--resp", "off", "--memcached", "off");
        Assert.Equal(1, await process.WaitForExitAsync());
        var line = process.Stderr.Trim();
        Assert.DoesNotContain("\n", line);
        Assert.StartsWith("pgrelay: cannot connect to ", line);
        var expected = otherAuthority ? "is not signed by a certificate authority in sslrootcert" : $"does not name the host '{host}'";
        Assert.True(line.Contains(expected), line);
    }

    [Fact]
    public async Task A_postgres_sink_target_with_a_wrong_host_name_says_why_in_its_status()
    {
        int port = FreeTcpPort.Next();
        var flags = new Dictionary<string, string?>
        {
            ["source"] = postgres.Cluster.UrlFor("postgres"),
            ["publication"] = "pub",
            ["slot"] = "tls_sink_wrong_host",
            ["http"] = $"127.0.0.1:{port}",
            ["resp"] = "off",
            ["memcached"] = "off",
            ["sink"] = "postgres:" + postgres.VerifyFullUrl("127.0.0.1", "target", postgres.Authority.CaFile),
        };
        await using var app = PgrelayHost.Build(SettingsLoader.Load(flags, new Dictionary<string, string?>()));
        await app.StartAsync();
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
        var status = await Eventually.Get(() => http.GetStringAsync("/status"), s => s.Contains("last_error"), "the sink's error in /status");
        var error = System.Text.Json.JsonDocument.Parse(status).RootElement.GetProperty("sinks").GetProperty("checkpoints")[0].GetProperty("last_error").GetString();
        Assert.Equal("connect: cannot connect to the target: the server's certificate does not name the host '127.0.0.1' (sslmode=verify-full); it names localhost", error);
        await app.StopAsync();
    }
}
