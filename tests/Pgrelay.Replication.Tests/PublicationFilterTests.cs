using Pgrelay.Testing;
using Xunit;

namespace Pgrelay.Replication.Tests;

/// <summary>Publication column lists and row filters: PostgreSQL 15 and later only.</summary>
public abstract class PublicationFilterTests(PostgresFixture pg)
{
    public sealed class PG15(PostgresFixture pg) : PublicationFilterTests(pg), IClassFixture<PostgresFixture>;
    public sealed class PG16(Postgres16Fixture pg) : PublicationFilterTests(pg), IClassFixture<Postgres16Fixture>;
    public sealed class PG17(Postgres17Fixture pg) : PublicationFilterTests(pg), IClassFixture<Postgres17Fixture>;
    public sealed class PG18(Postgres18Fixture pg) : PublicationFilterTests(pg), IClassFixture<Postgres18Fixture>;

    [Fact]
    public async Task Column_lists_and_row_filters_apply_to_snapshot_and_stream()
    {
        var db = await pg.NewDatabaseAsync();
        await pg.ExecuteAsync(db, """
            CREATE TABLE users (id int PRIMARY KEY, name text, secret text, active bool);
            INSERT INTO users SELECT g, 'u' || g, 'pw', g % 2 = 0 FROM generate_series(1, 20) g;
            CREATE PUBLICATION pub FOR TABLE users (id, name, active) WHERE (active);
            """);
        var target = new RecordingTarget();
        await using var run = ReplicationRun.Start(pg, db, target);
        await run.WaitForStreamingAsync();
        await pg.ExecuteAsync(db, "INSERT INTO users VALUES (100, 'on', 'pw', true), (101, 'off', 'pw', false);");
        await run.SyncAsync();
        var (schema, rows) = target.Snapshot("users");
        Assert.Equal(["id", "name", "active"], schema.Columns.Select(c => c.Name));
        Assert.Equal(11, rows.Count);
        Assert.All(rows.Values, r => Assert.Equal("t", r[2]));
    }
}
