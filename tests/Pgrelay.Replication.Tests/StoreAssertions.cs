using System.Text;
using Pgrelay.Core.Rows;
using Pgrelay.Store;
using Pgrelay.Store.Tables;
using Pgrelay.Testing;
using Xunit;

namespace Pgrelay.Replication.Tests;

/// <summary>Compares the real store with the database, row for row and byte for byte, through a pinned snapshot.</summary>
internal static class StoreAssertions
{
    public static StoredTable? Table(ReplicatedStore store, string name) => store.Tables.FirstOrDefault(t => t.Schema.TableName == name);

    /// <summary>Rows keyed like <see cref="PostgresHarness.ReadTableAsync"/>, each with the column names of the schema it is served with.</summary>
    public static List<(string Key, string[] Columns, string?[] Values)> Rows(ReplicatedStore store, string name)
    {
        var table = Table(store, name) ?? throw new InvalidOperationException($"the store does not hold {name}");
        using var pin = store.Pin();
        var rows = new List<(string, string[], string?[])>();
        foreach (var row in table.Rows(pin))
        {
            var view = row.View;
            var values = new string?[row.Schema.Columns.Count];
            for (int i = 0; i < values.Length; i++)
                values[i] = view.State(i) == ColumnState.Value ? Encoding.UTF8.GetString(view.Value(i)) : null;
            rows.Add((string.Join('/', row.Schema.KeyColumns.Select(k => values[k])), row.Schema.Columns.Select(c => c.Name).ToArray(), values));
        }
        return rows;
    }

    public static async Task MatchesAsync(PostgresHarness pg, string db, ReplicatedStore store, string name)
    {
        var table = Table(store, name) ?? throw new InvalidOperationException($"the store does not hold {name}");
        var expected = await pg.ReadTableAsync(db, table.Schema);
        var cached = Rows(store, name);
        var names = table.Schema.Columns.Select(c => c.Name).ToArray();
        Assert.Equal(expected.Count, cached.Count);
        var byKey = cached.ToDictionary(r => r.Key);
        foreach (var (key, values) in expected)
        {
            Assert.True(byKey.TryGetValue(key, out var mine), $"{name}: row {key} missing from the store");
            Assert.Equal(names, mine.Columns);
            Assert.Equal(values, mine.Values);
        }
    }
}
