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
}
