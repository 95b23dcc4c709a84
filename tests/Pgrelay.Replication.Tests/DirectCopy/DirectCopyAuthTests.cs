using System.Net;
using Npgsql;
using Pgrelay.Postgres.Wire;
using Pgrelay.Replication.Connection;
using Pgrelay.Testing;
using Xunit;

namespace Pgrelay.Replication.Tests.DirectCopy;

/// <summary>
/// A cluster that asks for every authentication method a source may use, with TLS on: each role is held to one method by
/// pg_hba.conf, and one role may only connect over TLS, one only with a client certificate.
/// </summary>
public sealed class AuthenticatingPostgresFixture : PostgresHarness, IAsyncLifetime
{
    public TestCertificates Authority { get; private set; } = null!;
    public (string Certificate, string Key) Client { get; private set; }

    async Task IAsyncLifetime.InitializeAsync()
    {
        Authority = TestCertificates.CreateAuthority("copy");
        var (certificate, key) = Authority.IssueServer("postgres", ["localhost"], [IPAddress.Loopback]);
        Client = Authority.IssueClient("copy_cert", "copy_cert");
        if (Environment.UserName == "root") Authority.GiveTo("postgres", certificate, key);   // the harness runs PostgreSQL as postgres
        Options.ExtraSettings.Add("ssl = on");
        Options.ExtraSettings.Add($"ssl_cert_file = '{certificate}'");
        Options.ExtraSettings.Add($"ssl_key_file = '{key}'");
        Options.ExtraSettings.Add($"ssl_ca_file = '{Authority.CaFile}'");
        await StartAsync();
        await ExecuteAsync("postgres", """
            SET password_encryption = 'md5';
            CREATE ROLE copy_md5 LOGIN PASSWORD 'pw md5';
            SET password_encryption = 'scram-sha-256';
            CREATE ROLE copy_password LOGIN PASSWORD 'pw password';
            CREATE ROLE copy_scram LOGIN PASSWORD 'pw scram';
            CREATE ROLE copy_tls LOGIN PASSWORD 'pw tls';
            CREATE ROLE copy_cert LOGIN;
            """);
        await File.WriteAllLinesAsync(Path.Combine(Cluster.DataDirectory, "pg_hba.conf"),
        [
            "local all all trust",
            "hostnossl all copy_tls 127.0.0.1/32 reject",
            "hostnossl all copy_cert 127.0.0.1/32 reject",
            "host all copy_password 127.0.0.1/32 password",
            "host all copy_md5 127.0.0.1/32 md5",
            "host all copy_scram 127.0.0.1/32 scram-sha-256",
            "hostssl all copy_tls 127.0.0.1/32 scram-sha-256",
            "hostssl all copy_cert 127.0.0.1/32 cert",
            "host all all 127.0.0.1/32 trust",
            "host replication all 127.0.0.1/32 trust",
        ]);
        await ExecuteAsync("postgres", "SELECT pg_reload_conf()");
    }

    Task IAsyncLifetime.DisposeAsync() => DisposeAsync().AsTask();

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        Authority?.Dispose();
    }
}

/// <summary>
/// The direct COPY reader on connections Npgsql authenticated in every way a source may ask for, in the clear and over
/// TLS: the rows are exact, and the bytes really came through the taken-over stream (TLS where the URL asked for it).
/// </summary>
public sealed class DirectCopyAuthTests(AuthenticatingPostgresFixture pg) : IClassFixture<AuthenticatingPostgresFixture>
{
    [Theory]
    [InlineData("postgres", null, "sslmode=disable", false)]                  // trust
    [InlineData("copy_password", "pw password", "sslmode=disable", false)]   // cleartext password
    [InlineData("copy_md5", "pw md5", "sslmode=disable", false)]             // md5
    [InlineData("copy_scram", "pw scram", "sslmode=disable", false)]         // SCRAM-SHA-256
    [InlineData("copy_scram", "pw scram", "sslmode=require", true)]          // SCRAM-SHA-256-PLUS (channel binding) over TLS
    [InlineData("copy_md5", "pw md5", "sslmode=prefer", true)]
    [InlineData("copy_tls", "pw tls", "sslmode=verify-ca&sslrootcert={ca}", true)]
    [InlineData("copy_tls", "pw tls", "sslmode=verify-full&sslrootcert={ca}", true)]
    [InlineData("copy_cert", null, "sslmode=verify-full&sslrootcert={ca}&sslcert={cert}&sslkey={key}", true)]   // client certificate
    public async Task The_direct_reader_copies_exactly_on_any_authenticated_connection(string user, string? password, string query, bool tls)
    {
        var db = await pg.NewDatabaseAsync();
        await pg.ExecuteAsync(db, CopyRun.TrickyTable + $"; GRANT SELECT ON tricky TO {user}");
        var url = Url(user, password, db, query);

        var (target, copier, _) = await CopyRun.CopyAsync(url, o => o.CopyParallelism = 2);
        Assert.Equal(2, copier.DirectConnections);
        await CopyRun.MatchesDatabaseAsync(pg, db, target, "tricky");

        // The same kind of connection, taken over: whether its bytes travel encrypted is the server's to say.
        await using var conn = new NpgsqlConnection(SourceOptions.Parse(url).ConnectionString("pgrelay-test"));
        await conn.OpenAsync();
        using var session = CopyOutSession.TryTakeOver(conn, out var reason) ?? throw new InvalidOperationException(reason);
        var sink = new TextSink();
        session.CopyOut("COPY (SELECT ssl, current_user FROM pg_stat_ssl WHERE pid = pg_backend_pid()) TO STDOUT", sink);
        Assert.Equal($"{(tls ? 't' : 'f')}\t{user}\n", sink.Text);
    }

    private string Url(string user, string? password, string db, string query)
    {
        var credentials = password is null ? user : $"{user}:{Uri.EscapeDataString(password)}";
        query = query.Replace("{ca}", Uri.EscapeDataString(pg.Authority.CaFile))
            .Replace("{cert}", Uri.EscapeDataString(pg.Client.Certificate))
            .Replace("{key}", Uri.EscapeDataString(pg.Client.Key));
        return $"postgres://{credentials}@127.0.0.1:{pg.Cluster.Port}/{db}?{query}";
    }

    private sealed class TextSink : ICopyDataSink
    {
        private readonly MemoryStream _data = new();
        public string Text => System.Text.Encoding.UTF8.GetString(_data.ToArray());
        public void Write(ReadOnlySpan<byte> data) => _data.Write(data);
    }
}
