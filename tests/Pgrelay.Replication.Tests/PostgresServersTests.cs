using Pgrelay.Testing;
using Xunit;

namespace Pgrelay.Replication.Tests;

/// <summary>The harness runs every pinned PostgreSQL version, each able to feed pgoutput.</summary>
public sealed class PostgresServersTests
{
    public static TheoryData<int> Versions() => new(PostgresServers.All);

    [Theory]
    [MemberData(nameof(Versions))]
    public async Task Each_pinned_version_starts_decodes_pgoutput_and_gets_its_best_protocol(int version)
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

        // Preflight picks the protocol each version supports best.
        var preflight = await Preflight.RunAsync(Connection.SourceOptions.Parse(pg.Cluster.UrlFor(db)), ["pub"], CancellationToken.None);
        Assert.Equal(version switch { 14 => 2, 15 => 3, _ => 4 }, preflight.ProtocolVersion);
        Assert.Equal(version >= 16 ? Npgsql.Replication.PgOutput.PgOutputStreamingMode.Parallel : Npgsql.Replication.PgOutput.PgOutputStreamingMode.On,
            Preflight.StreamingModeFor(preflight.ProtocolVersion));
    }
}
