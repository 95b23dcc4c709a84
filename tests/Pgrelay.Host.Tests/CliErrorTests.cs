using Npgsql;
using Pgrelay.Replication.Local;

namespace Pgrelay.Host.Tests;

/// <summary>Mistakes a user can make end in one clear line on stderr and a non-zero exit, never a stack trace.</summary>
public class CliErrorTests
{
    private static async Task<(int Code, string Stderr)> Run(params string[] args)
    {
        await using var process = PgrelayProcess.Start(args);
        int code = await process.WaitForExitAsync();
        return (code, process.Stderr.Trim());
    }

    private static void AssertOneLine(string stderr, string expected)
    {
        Assert.DoesNotContain("\n", stderr);
        Assert.StartsWith("pgrelay: ", stderr);
        Assert.Contains(expected, stderr);
    }

    [Fact]
    public async Task Missing_source_names_the_setting()
    {
        var (code, stderr) = await Run("run", "--publication", "pub");
        Assert.Equal(2, code);
        AssertOneLine(stderr, "source");
    }

    [Fact]
    public async Task Bad_listen_address_names_the_setting()
    {
        var (code, stderr) = await Run("run", "--source", "postgres://u@127.0.0.1/db", "--publication", "p", "--http", "nowhere:99999");
        Assert.Equal(2, code);
        AssertOneLine(stderr, "http");
    }

    [Fact]
    public async Task Broken_acl_file_stops_start_up_before_connecting()
    {
        var acl = Path.GetTempFileName();
        await File.WriteAllTextAsync(acl, "user alice on >secret ~pub.* +@read\nuser bob sometimes\n");
        try
        {
            // The source is unreachable on purpose: the ACL file must be rejected before any connection is tried.
            var (code, stderr) = await Run("run", "--source", "postgres://u@127.0.0.1:1/db", "--publication", "p", "--aclfile", acl);
            Assert.Equal(2, code);
            AssertOneLine(stderr, "sometimes");
        }
        finally { File.Delete(acl); }
    }

    [Fact]
    public async Task Protected_mode_refusal_names_only_settings_that_exist()
    {
        var acl = Path.GetTempFileName();
        await File.WriteAllTextAsync(acl, "user default on nopass ~* &* +@all\nuser alice on >secret ~pub.* +@read\n");
        try
        {
            var (code, stderr) = await Run("run", "--source", "postgres://u@127.0.0.1:1/db", "--publication", "p", "--resp", "0.0.0.0:6390", "--aclfile", acl);
            Assert.Equal(2, code);
            AssertOneLine(stderr, "requirepass");
            Assert.Contains("protected-mode no", stderr);
            Assert.DoesNotContain("resp.", stderr);
            // Turned off, the same settings pass validation and fail later, at the unreachable source (exit 1).
            (code, stderr) = await Run("run", "--source", "postgres://u@127.0.0.1:1/db", "--publication", "p", "--resp", "0.0.0.0:6390", "--aclfile", acl,
                "--protected-mode", "no", "--http", "off", "--memcached", "off", "--source-wait", "1s");
            Assert.Equal(1, code);
        }
        finally { File.Delete(acl); }
    }

    [Fact]
    public async Task Bad_number_names_the_setting()
    {
        var (code, stderr) = await Run("run", "--source", "postgres://u@127.0.0.1/db", "--publication", "p", "--copy-parallelism", "lots");
        Assert.Equal(2, code);
        AssertOneLine(stderr, "copy-parallelism");
    }

    [Fact]
    public async Task Unreachable_database_is_one_line()
    {
        int port = FreeTcpPort.Next();
        // A source that is down is waited for (SourceDownAtStartTests); source-wait bounds the wait.
        var (code, stderr) = await Run("run", "--source", $"postgres://postgres@127.0.0.1:{port}/postgres", "--publication", "p", "--http", "off", "--resp", "off", "--memcached", "off",
            "--source-wait", "1s");
        Assert.Equal(1, code);
        AssertOneLine(stderr, "127.0.0.1");
    }

    [Fact]
    public async Task Missing_publication_and_wrong_wal_level_are_one_line()
    {
        await using (var cluster = await PrivatePostgresCluster.StartAsync())
        {
            var (code, stderr) = await Run("run", "--source", cluster.UrlFor("postgres"), "--publication", "nope", "--http", "off", "--resp", "off", "--memcached", "off");
            Assert.Equal(1, code);
            AssertOneLine(stderr, "nope");
        }
        await using (var replica = await PrivatePostgresCluster.StartAsync(new PrivateClusterOptions { WalLevel = "replica" }))
        {
            await using (var c = new NpgsqlConnection(replica.ConnectionString))
            {
                await c.OpenAsync();
                await new NpgsqlCommand("CREATE TABLE t (id int primary key); CREATE PUBLICATION p FOR TABLE t", c).ExecuteNonQueryAsync();
            }
            var (code, stderr) = await Run("run", "--source", replica.UrlFor("postgres"), "--publication", "p", "--http", "off", "--resp", "off", "--memcached", "off");
            Assert.Equal(1, code);
            AssertOneLine(stderr, "wal_level");
        }
    }

    [Fact]
    public async Task Config_file_and_environment_are_read_with_flags_first()
    {
        var file = Path.GetTempFileName();
        await File.WriteAllTextAsync(file, """{ "publication": "p", "copy-parallelism": 0 }""");
        try
        {
            var (code, stderr) = await Run("run", "--config", file, "--source", "postgres://u@127.0.0.1/db");
            Assert.Equal(2, code);
            AssertOneLine(stderr, "copy-parallelism");
            var (code2, stderr2) = await Run("run", "--config", file, "--source", "postgres://u@127.0.0.1/db", "--copy-parallelism", "2", "--http", "bad:port:x");
            Assert.Equal(2, code2);
            AssertOneLine(stderr2, "http");
        }
        finally
        {
            File.Delete(file);
        }
    }
}
