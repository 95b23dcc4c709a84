using Pgrelay.Testing;
using Xunit;

namespace Pgrelay.Replication.Tests;

/// <summary>The harness runs every pinned PostgreSQL version, each able to feed pgoutput.</summary>
public sealed class PostgresServersTests
{
    public static TheoryData<int> Versions() => new(PostgresServers.All);

    [Theory]
    [MemberData(nameof(Versions))]
    public async Task Each_pinned_version_starts_and_decodes_pgoutput(int version)
    {
        await using var pg = new PostgresHarness(version);
        await pg.StartAsync();
        var db = await pg.NewDatabaseAsync();
        await pg.ExecuteAsync(db, """
            CREATE TABLE t (id int PRIMARY KEY, v text);
            CREATE PUBLICATION pub FOR TABLE t;
            """);
        await pg.ExecuteAsync(db, "SELECT pg_create_logical_replication_slot('probe', 'pgoutput')");
        // The cluster runs with synchronous_commit off, and a peek decodes only flushed WAL.
        await pg.ExecuteAsync(db, "SET synchronous_commit = on; INSERT INTO t VALUES (1, 'one')");
        Assert.Equal(version, int.Parse(await pg.ScalarAsync<string>(db, "SHOW server_version_num")) / 10000);
        var changes = await pg.ScalarAsync<long>(db, $"""
            SELECT count(*) FROM pg_logical_slot_peek_binary_changes('probe', NULL, NULL,
              'proto_version', '{Preflight.ProtocolVersionFor(version * 10000, Connection.SourceOptions.Parse(pg.Cluster.UrlFor(db)))}',
              'publication_names', 'pub')
            """);
        Assert.Equal(4, changes); // Begin, Relation, Insert, Commit
    }
}
