using System.Text;
using Pgrelay.Core.Rows;
using Pgrelay.Store;
using Pgrelay.Testing;
using Xunit;

namespace Pgrelay.Replication.Tests;

internal static class Assertions
{
    /// <summary>The target's copy of a table equals the table in the database, row for row and byte for byte.</summary>
    public static async Task TableMatchesAsync(PostgresHarness pg, ReplicationRun run, string table)
    {
        var (schema, cached) = ((RecordingTarget)run.Target).Snapshot(table);
        var actual = await pg.ReadTableAsync(run.Database, schema);
        Assert.Equal(actual.Count, cached.Count);
        foreach (var (key, values) in actual)
        {
            Assert.True(cached.TryGetValue(key, out var mine), $"{table}: row {key} missing from the cache");
            Assert.Equal(values, mine);
        }
    }

    /// <summary>
    /// Waits until the slot's statistics count at least <paramref name="atLeast"/> streamed transactions and returns the
    /// count: they reach pg_stat_replication_slots a little after the fact (a hang guard, not a timing assertion).
    /// </summary>
    public static async Task<long> StreamedTransactionsAsync(PostgresHarness pg, string database, string slot, long atLeast = 1)
    {
        long streamed = 0;
        for (var deadline = DateTime.UtcNow.AddSeconds(60); DateTime.UtcNow < deadline; await Task.Delay(200))
        {
            streamed = await pg.ScalarAsync<long>(database, $"SELECT stream_txns FROM pg_stat_replication_slots WHERE slot_name = '{slot}'");
            if (streamed >= atLeast) break;
        }
        return streamed;
    }

    /// <summary>
    /// Runs <paramref name="body"/> in a transaction, keeps it open until PostgreSQL has streamed it (the slot counts
    /// <paramref name="streamedBefore"/> + 1 streamed transactions), then rolls it back. PostgreSQL 18 skips decoding a
    /// transaction it already knows to be aborted, so a ROLLBACK sent at once may never be streamed at all.
    /// </summary>
    public static async Task RollBackOnceStreamedAsync(PostgresHarness pg, string database, string slot, string body, long streamedBefore = 0)
    {
        await using var conn = await pg.OpenAsync(database);
        await using (var begin = new Npgsql.NpgsqlCommand("BEGIN; " + body, conn)) await begin.ExecuteNonQueryAsync();
        var streamed = await StreamedTransactionsAsync(pg, database, slot, streamedBefore + 1);
        await using (var rollback = new Npgsql.NpgsqlCommand("ROLLBACK", conn)) await rollback.ExecuteNonQueryAsync();
        Assert.True(streamed > streamedBefore, $"PostgreSQL should have streamed the open transaction (stream_txns = {streamed})");
    }

    /// <summary>
    /// Every table of the real store equals its table in the database, row for row and byte for byte (read at one pinned
    /// LSN); returns how many rows were compared.
    /// </summary>
    public static async Task<int> StoreMatchesAsync(PostgresHarness pg, string database, ReplicatedStore store)
    {
        int compared = 0;
        foreach (var table in store.Tables)
        {
            var schema = table.Schema;
            var expected = await pg.ReadTableAsync(database, schema);
            var cached = new Dictionary<string, string?[]>();
            using (var pin = store.Pin())
            {
                foreach (var row in table.Rows(pin))
                {
                    var view = row.View;
                    var values = new string?[row.Schema.Columns.Count];
                    for (int i = 0; i < values.Length; i++)
                        values[i] = view.State(i) == ColumnState.Value ? Encoding.UTF8.GetString(view.Value(i)) : null;
                    cached.Add(string.Join('/', row.Schema.KeyColumns.Select(k => values[k])), values);
                }
            }
            Assert.Equal(expected.Count, cached.Count);
            foreach (var (key, values) in expected)
            {
                Assert.True(cached.TryGetValue(key, out var mine), $"{schema}: row {key} missing from the store");
                Assert.Equal(values, mine);
            }
            compared += expected.Count;
        }
        return compared;
    }
}
