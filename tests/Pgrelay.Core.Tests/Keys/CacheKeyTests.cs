using System.Text;
using Pgrelay.Core.Keys;
using Pgrelay.Core.Model;
using Pgrelay.Core.Rows;

namespace Pgrelay.Core.Tests.Keys;

/// <summary>The key encoding is reversible: distinct rows never share a key, and a key splits back into its parts.</summary>
public class CacheKeyTests
{
    private static TableSchema NoPrimaryKey(int columns) => new(1, "public", "t",
        [.. Enumerable.Range(0, columns).Select(i => new ColumnSchema("c" + i, PgTypes.Text, -1, false))], ReplicaIdentity.Full);

    private static readonly string?[] Values = ["", "a", "/", "%", "%2F", "%25", "%FF", ".", "x/y", "y/z", "x", "2", "é/%", null];

    private static byte[] Row(params string?[] values) => RowBuilder.FromText(values);

    private static string Key(byte[] row, TableSchema table, int copy = 1) => CacheKey.RowKeyString(new RowView(row), table, copy);

    /// <summary>The decoder the encoding promises exists: split at '/', NULL for %FF, then undo %XX.</summary>
    private static List<string?> Decode(string key) =>
        [.. key.Split('/').Select(part => part == "%FF" ? null : Uri.UnescapeDataString(part))];

    [Fact]
    public void Every_tuple_of_awkward_values_has_its_own_key_which_decodes_back_to_it()
    {
        var table = NoPrimaryKey(2);
        var keys = new Dictionary<string, (string?, string?)>();
        foreach (var a in Values)
            foreach (var b in Values)
            {
                var key = Key(Row(a, b), table);
                Assert.True(keys.TryAdd(key, (a, b)), $"({a}, {b}) and {keys.GetValueOrDefault(key)} share the key {key}");
                Assert.Equal([a, b], Decode(key));
                Assert.True(CacheKey.Matches(new RowView(Row(a, b)), table, Encoding.UTF8.GetBytes(key)));
                Assert.Equal(Encoding.UTF8.GetByteCount(key), CacheKey.RowKeyLength(new RowView(Row(a, b)), table));
            }
        // Matching compares the escaped spelling in place: no other row matches a key.
        foreach (var (key, (a, b)) in keys)
            foreach (var other in new[] { ("x", "y/z"), ("x/y", "z"), ("", null), (null, "") })
                if ((a, b) != other)
                    Assert.False(CacheKey.Matches(new RowView(Row(other.Item1, other.Item2)), table, Encoding.UTF8.GetBytes(key)), key);
    }

    [Fact]
    public void Only_the_canonical_spelling_names_a_row()
    {
        var table = NoPrimaryKey(2);
        var row = new RowView(Row("x/y", "%"));
        Assert.Equal("x%2Fy/%25", Key(Row("x/y", "%"), table));
        Assert.False(CacheKey.Matches(row, table, "x%2fy/%25"u8));
        Assert.False(CacheKey.Matches(row, table, "x/y/%"u8));
        Assert.False(CacheKey.Matches(row, table, "x%2Fy/%25/"u8));
    }

    [Theory]
    [InlineData("1/x", 2, 3, 1)]
    [InlineData("1/x/2", 2, 3, 2)]
    [InlineData("1/x/17", 2, 3, 17)]
    [InlineData("1/x/1", 2, -1, 1)]     // the first copy has no copy part: one spelling per row
    [InlineData("1/x/02", 2, -1, 1)]
    [InlineData("1/x/+2", 2, -1, 1)]
    [InlineData("1/x/", 2, -1, 1)]
    [InlineData("1/x/99999999999", 2, -1, 1)]
    [InlineData("1/x/2/3", 2, -1, 1)]
    [InlineData("1", 2, -1, 1)]
    [InlineData("x%2Fy/z/3", 2, 7, 3)]
    [InlineData("", 1, 0, 1)]
    [InlineData("/2", 1, 0, 2)]
    public void A_copy_part_is_one_part_more_than_the_columns(string key, int columns, int keyLength, int copy)
    {
        int length = CacheKey.SplitCopy(Encoding.UTF8.GetBytes(key), NoPrimaryKey(columns), out int parsed);
        Assert.Equal(keyLength, length);
        if (length >= 0) Assert.Equal(copy, parsed);
    }

    [Fact]
    public void Copies_append_their_number_as_one_more_part()
    {
        var table = NoPrimaryKey(2);
        Assert.Equal("1/%FF", Key(Row("1", null), table));
        Assert.Equal("1/%FF/2", Key(Row("1", null), table, 2));
        Assert.Equal("1//12", Key(Row("1", ""), table, 12));
    }

    [Theory]
    [InlineData("public", "t", "t")]
    [InlineData("sales", "orders", "sales.orders")]
    [InlineData("public", "a.b", "a%2Eb")]
    [InlineData("s.1", "t", "s%2E1.t")]
    [InlineData("public", "100%", "100%25")]
    [InlineData("public", "a/b", "a/b")]
    public void Names_escape_their_dots_so_a_table_part_has_at_most_one(string schema, string table, string keyName) =>
        Assert.Equal(keyName, CacheKey.TableKeyName(schema, table));

    [Fact]
    public void Matching_a_key_allocates_nothing()
    {
        var table = NoPrimaryKey(3);
        var row = new RowView(Row("x/y", "100%", null));
        var key = Encoding.UTF8.GetBytes(CacheKey.RowKeyString(row, table, 3));
        for (int i = 0; i < 100; i++) CacheKey.SplitCopy(key, table, out _);
        long before = GC.GetAllocatedBytesForCurrentThread();
        bool all = true;
        for (int i = 0; i < 1000; i++)
        {
            int length = CacheKey.SplitCopy(key, table, out _);
            all &= CacheKey.Matches(row, table, key.AsSpan(0, length));
        }
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.True(all);
    }
}
