using System.Globalization;
using Pgrelay.Core.Model;

/// <summary>
/// The benchmark table: an 8-column "accounts" table whose text key is the 12-digit number redis-benchmark puts in
/// place of __rand_int__, so <c>HGETALL pub.accounts.__rand_int__</c> hits a row on both servers. One row in four has
/// a NULL note, which a hash leaves out.
/// </summary>
internal static class BenchRows
{
    public const string Publication = "pub";

    public static readonly TableSchema Accounts = new(16390, "public", "accounts",
    [
        new ColumnSchema("code", PgTypes.Text, -1, true),
        new ColumnSchema("email", PgTypes.Text, -1, false),
        new ColumnSchema("name", PgTypes.Text, -1, false),
        new ColumnSchema("country", PgTypes.Text, -1, false),
        new ColumnSchema("balance", PgTypes.Numeric, -1, false),
        new ColumnSchema("active", PgTypes.Bool, -1, false),
        new ColumnSchema("created_at", PgTypes.TimestampTz, -1, false),
        new ColumnSchema("note", PgTypes.Text, -1, false),
    ], ReplicaIdentity.Default);

    private static readonly string[] Countries = ["US", "DE", "FR", "JP", "BR", "IN", "GB", "CA"];

    /// <summary>Column values of row <paramref name="i"/>, null for SQL NULL, in column order.</summary>
    public static string?[] Values(int i) =>
    [
        i.ToString("D12", CultureInfo.InvariantCulture),
        $"user{i}@example.com",
        $"Customer Number {i}",
        Countries[i % Countries.Length],
        $"{i % 100000}.{i % 100:D2}",
        i % 3 == 0 ? "f" : "t",
        $"2025-{1 + i % 12:D2}-{1 + i % 28:D2} 12:34:56.789+00",
        i % 4 == 0 ? null : $"prefers email; segment {(char)('A' + i % 6)}",
    ];

    public static string Key(int i) => $"{Publication}.accounts.{i.ToString("D12", CultureInfo.InvariantCulture)}";
}
