using Microsoft.Extensions.Logging.Abstractions;
using Pgrelay.Core.Status;
using Pgrelay.Testing;
using Xunit;

namespace Pgrelay.Replication.Tests;

/// <summary>A cluster with wal_level=replica, for the one preflight failure a logical cluster cannot show.</summary>
public sealed class ReplicaClusterFixture : PostgresHarness, IAsyncLifetime
{
    Task IAsyncLifetime.InitializeAsync()
    {
        Options.WalLevel = "replica";
        return StartAsync();
    }

    Task IAsyncLifetime.DisposeAsync() => DisposeAsync().AsTask();
}

public sealed class PreflightTests(PostgresFixture pg, ReplicaClusterFixture replica)
    : IClassFixture<PostgresFixture>, IClassFixture<ReplicaClusterFixture>
{
    private static ReplicationService Service(string source, params string[] publications) =>
        new(new ReplicationOptions { Source = source, Publications = publications.ToList() }, new RecordingTarget(),
            new ReplicationStatus(), NullLoggerFactory.Instance);

    private static void AssertOneLine(ReplicationSetupException e, string expected)
    {
        Assert.DoesNotContain('\n', e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public async Task Wal_level_replica_is_refused_with_the_fix()
    {
        var e = await Assert.ThrowsAsync<ReplicationSetupException>(() => Service(replica.Cluster.UrlFor("postgres"), "pub").PreflightAsync());
        AssertOneLine(e, "wal_level is 'replica' on 127.0.0.1:");
        Assert.Contains("ALTER SYSTEM SET wal_level = logical", e.Message);
    }

    [Fact]
    public async Task A_missing_publication_is_named()
    {
        var db = await pg.NewDatabaseAsync();
        var e = await Assert.ThrowsAsync<ReplicationSetupException>(() => Service(pg.Cluster.UrlFor(db), "nope").PreflightAsync());
        AssertOneLine(e, "publication 'nope' does not exist");
    }

    [Fact]
    public async Task A_user_without_replication_privilege_is_refused()
    {
        var db = await pg.NewDatabaseAsync();
        await pg.ExecuteAsync(db, "CREATE ROLE plain LOGIN; CREATE PUBLICATION pub;");
        var e = await Assert.ThrowsAsync<ReplicationSetupException>(() => Service(pg.Cluster.UrlFor(db, "plain"), "pub").PreflightAsync());
        AssertOneLine(e, "user 'plain'");
        Assert.Contains("WITH REPLICATION", e.Message);
    }

    [Fact]
    public async Task An_unreachable_server_is_one_line()
    {
        var e = await Assert.ThrowsAsync<ReplicationSetupException>(() => Service("postgres://postgres@127.0.0.1:1/postgres", "pub").PreflightAsync());
        AssertOneLine(e, "cannot connect to postgres@127.0.0.1:1/postgres");
    }

    [Fact]
    public async Task A_healthy_source_passes_and_reports_protocol_3_on_postgres_15()
    {
        var db = await pg.NewDatabaseAsync();
        await pg.ExecuteAsync(db, "CREATE PUBLICATION pub;");
        var result = await Service(pg.Cluster.UrlFor(db), "pub").PreflightAsync();
        Assert.Equal(3, result.ProtocolVersion);
        Assert.InRange(result.ServerVersionNum, 150000, 159999);
    }
}
