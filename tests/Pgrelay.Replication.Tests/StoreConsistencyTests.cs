using System.Text;
using Npgsql;
using Pgrelay.Core.Rows;
using Pgrelay.Store;
using Pgrelay.Testing;
using Xunit;

namespace Pgrelay.Replication.Tests;

/// <summary>The real store, fed by real replication, equals the database after a random workload.</summary>
public abstract class StoreConsistencyTests(PostgresFixture pg)
{
    public sealed class PG14(Postgres14Fixture pg) : StoreConsistencyTests(pg), IClassFixture<Postgres14Fixture>;
    public sealed class PG15(PostgresFixture pg) : StoreConsistencyTests(pg), IClassFixture<PostgresFixture>;
    public sealed class PG16(Postgres16Fixture pg) : StoreConsistencyTests(pg), IClassFixture<Postgres16Fixture>;
    public sealed class PG17(Postgres17Fixture pg) : StoreConsistencyTests(pg), IClassFixture<Postgres17Fixture>;
    public sealed class PG18(Postgres18Fixture pg) : StoreConsistencyTests(pg), IClassFixture<Postgres18Fixture>;

    [Fact]
    public async Task Cache_equals_database_after_a_random_workload()
    {
        var db = await pg.NewDatabaseAsync();
        await pg.ExecuteAsync(db, """
            CREATE TABLE accounts (id int PRIMARY KEY, owner text, balance numeric(12,2), opened date, note text);
            CREATE TABLE entries (region text, seq int, amount float8, at timestamptz, PRIMARY KEY (region, seq));
            INSERT INTO accounts SELECT g, 'owner ' || g, g * 10.25, date '2020-01-01' + g, NULL FROM generate_series(1, 20000) g;
            INSERT INTO entries SELECT r, g, g / 7.0, timestamptz '2024-06-01 12:00+02' + g * interval '1 second'
              FROM unnest(ARRAY['eu', 'us', 'apac']) r, generate_series(1, 3000) g;
            CREATE PUBLICATION pub FOR TABLE accounts, entries;
            """);
        var store = new ReplicatedStore();
        await using var run = ReplicationRun.Start(pg, db, store, o => o.CopyRangePages = 32);

        var random = new Random(12345);
        await using var conn = await pg.OpenAsync(db);
        for (int txn = 0; txn < 300; txn++)
        {
            if (txn == 150)
            {
                await Exec(conn, "ALTER TABLE accounts ADD COLUMN tier int DEFAULT 1");
                continue;
            }
            var sql = new StringBuilder("BEGIN;");
            int statements = random.Next(1, 20);
            for (int s = 0; s < statements; s++)
            {
                int id = random.Next(1, 25000);
                string region = random.Next(3) switch { 0 => "eu", 1 => "us", _ => "apac" };
                int seq = random.Next(1, 3500);
                sql.Append(random.Next(8) switch
                {
                    0 => $"INSERT INTO accounts (id, owner, balance) VALUES ({id + 100000}, 'n{txn}', {random.Next(1000)}) ON CONFLICT DO NOTHING;",
                    1 => $"UPDATE accounts SET balance = balance + {random.Next(100)}.5, note = 'txn {txn}' WHERE id = {id};",
                    2 => $"DELETE FROM accounts WHERE id = {id};",
                    3 => $"UPDATE accounts SET id = id + 500000 WHERE id = {id};",
                    4 => $"INSERT INTO entries VALUES ('{region}', {seq + 10000}, {random.NextDouble()}, now()) ON CONFLICT DO NOTHING;",
                    5 => $"UPDATE entries SET amount = amount * 2 WHERE region = '{region}' AND seq = {seq};",
                    6 => $"DELETE FROM entries WHERE region = '{region}' AND seq = {seq};",
                    _ => $"UPDATE accounts SET owner = NULL WHERE id BETWEEN {id} AND {id + 20};",
                });
            }
            sql.Append(random.Next(10) == 0 ? "ROLLBACK;" : "COMMIT;");
            await Exec(conn, sql.ToString());
        }
        await run.SettleAsync();
        await Assertions.StoreMatchesAsync(pg, db, store);
    }

    private static async Task Exec(NpgsqlConnection conn, string sql)
    {
        await using var cmd = new NpgsqlCommand(sql, conn);
        await cmd.ExecuteNonQueryAsync();
    }
}
