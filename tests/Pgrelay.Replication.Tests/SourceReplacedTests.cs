using Pgrelay.Store;
using Pgrelay.Testing;
using Xunit;

namespace Pgrelay.Replication.Tests;

/// <summary>
/// A source replaced by another major version at the same address and database name, within one process: pg_upgrade on
/// the same port, a failover to another server, or (how it was found) a test cluster started on a port an earlier one
/// used. Npgsql remembers a server's version per connection string for the whole process; the replication commands whose
/// syntax depends on it must follow the server that answers now.
/// </summary>
public sealed class SourceReplacedTests
{
    [Theory]
    [InlineData(18, 14)]   // newer to older: PG15+'s option list is a syntax error on PG14
    [InlineData(14, 18)]
    public async Task A_source_replaced_by_another_major_version_at_the_same_address_is_replicated(int before, int after)
    {
        int port;
        await using (var first = new PostgresHarness(before))
        {
            await first.StartAsync();
            port = first.Cluster.Port;
            await ReplicateOneRowAsync(first, $"on PostgreSQL {before}");
        }
        await using var second = new PostgresHarness(after);
        second.Options.Port = port;
        await second.StartAsync();
        await ReplicateOneRowAsync(second, $"on PostgreSQL {after}, at the address PostgreSQL {before} had");
    }

    private static async Task ReplicateOneRowAsync(PostgresHarness pg, string where)
    {
        // The same database name on both servers: the same connection string.
        var db = await pg.NewDatabaseAsync("same");
        await pg.ExecuteAsync(db, $"""
            CREATE TABLE t (id int PRIMARY KEY, note text);
            CREATE PUBLICATION pub FOR TABLE t;
            INSERT INTO t VALUES (1, 'copied {where}');
            """);
        var store = new ReplicatedStore();
        await using var run = ReplicationRun.Start(pg, db, store);
        await run.WaitForStreamingAsync();
        await pg.ExecuteAsync(db, $"INSERT INTO t VALUES (2, 'streamed {where}')");
        await run.SyncAsync();
        Assert.True(store.TryGetRow("pub.t.1"u8.ToArray(), out _), $"the copied row is missing {where}");
        Assert.True(store.TryGetRow("pub.t.2"u8.ToArray(), out _), $"the streamed row is missing {where}");
    }
}
