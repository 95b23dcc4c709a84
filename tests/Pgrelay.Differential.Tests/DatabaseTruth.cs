using Npgsql;

namespace Pgrelay.Differential.Tests;

/// <summary>A row as PostgreSQL itself renders it: each column's text output, and the JSON pgrelay documents for it.</summary>
public sealed record TruthRow(string? Key, string?[] Text, string?[] Json)
{
    /// <summary>The whole row as one string, to compare tables without a key as multisets.</summary>
    public string TextIdentity => string.Join("\u001f", Text.Select(t => t ?? "\u2400"));
}

/// <summary>A published table as the database has it: columns in order, key columns, every row.</summary>
public sealed record TruthTable(string Name, IReadOnlyList<string> Columns, IReadOnlyList<string> KeyColumns, IReadOnlyList<TruthRow> Rows)
{
    public bool HasKey => KeyColumns.Count > 0;
    public int Index(string column) => Columns.ToList().IndexOf(column);
}

/// <summary>
/// Reads what the comparison checks against from PostgreSQL alone: which tables the publication holds, their columns and
/// primary keys from the catalogs, and every row as <c>col::text</c> and as JSON made by PostgreSQL's <c>to_json</c>
/// (bytea as unbroken base64, as pgrelay documents). Nothing comes from the generator's own beliefs.
/// </summary>
public static class DatabaseTruth
{
    public static async Task<List<TruthTable>> ReadAsync(NpgsqlConnection conn, string publication, IReadOnlySet<string> ignore)
    {
        var names = new List<string>();
        await using (var cmd = new NpgsqlCommand(
            "SELECT tablename FROM pg_publication_tables WHERE pubname = @p AND schemaname = 'public' ORDER BY tablename", conn))
        {
            cmd.Parameters.AddWithValue("p", publication);
            await using var reader = await cmd.ExecuteReaderAsync();
            while (await reader.ReadAsync()) names.Add(reader.GetString(0));
        }
        var tables = new List<TruthTable>();
        foreach (var name in names.Where(n => !ignore.Contains(n))) tables.Add(await ReadTableAsync(conn, name));
        return tables;
    }

    public static async Task<TruthTable> ReadTableAsync(NpgsqlConnection conn, string table)
    {
        var columns = new List<(string Name, bool Bytea)>();
        await using (var cmd = new NpgsqlCommand("""
            SELECT attname, atttypid = 'bytea'::regtype FROM pg_attribute
            WHERE attrelid = @t::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum
            """, conn))
        {
            cmd.Parameters.AddWithValue("t", Quote(table));
            await using var reader = await cmd.ExecuteReaderAsync();
            while (await reader.ReadAsync()) columns.Add((reader.GetString(0), reader.GetBoolean(1)));
        }
        var keys = new List<string>();
        await using (var cmd = new NpgsqlCommand("""
            SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
            WHERE i.indrelid = @t::regclass AND i.indisprimary ORDER BY array_position(i.indkey::int2[], a.attnum)
            """, conn))
        {
            cmd.Parameters.AddWithValue("t", Quote(table));
            await using var reader = await cmd.ExecuteReaderAsync();
            while (await reader.ReadAsync()) keys.Add(reader.GetString(0));
        }
        var text = columns.Select(c => Text(c.Name));
        var json = columns.Select(c => c.Bytea
            ? $"to_json(translate(encode({Quote(c.Name)}, 'base64'), E'\\n', ''))::text"
            : $"to_json({Quote(c.Name)})::text");
        var rows = new List<TruthRow>();
        await using (var cmd = new NpgsqlCommand($"SELECT {string.Join(", ", text.Concat(json))} FROM {Quote(table)}", conn) { CommandTimeout = 300 })
        {
            await using var reader = await cmd.ExecuteReaderAsync();
            int n = columns.Count;
            var keyIndexes = keys.Select(k => columns.FindIndex(c => c.Name == k)).ToArray();
            while (await reader.ReadAsync())
            {
                var t = new string?[n];
                var j = new string?[n];
                for (int i = 0; i < n; i++)
                {
                    t[i] = reader.IsDBNull(i) ? null : reader.GetString(i);
                    j[i] = reader.IsDBNull(n + i) ? null : reader.GetString(n + i);
                }
                rows.Add(new TruthRow(keyIndexes.Length == 0 ? null : KeyText(keyIndexes.Select(k => t[k]!)), t, j));
            }
        }
        return new TruthTable(table, columns.Select(c => c.Name).ToList(), keys, rows);
    }

    /// <summary>
    /// A column as its type's output function prints it, which is what pgrelay serves; <c>::text</c> is not always that
    /// (bool casts to 'true', its output is 't'). <c>format('%s')</c> calls the output function; NULL stays NULL.
    /// </summary>
    public static string Text(string column) => $"CASE WHEN {Quote(column)} IS NULL THEN NULL ELSE format('%s', {Quote(column)}) END";

    /// <summary>
    /// pgrelay's documented key: the key columns' text joined with '/' in primary-key order. When the key encoding changes
    /// (issue 10 item 7: escaping '/' and the escape character), this is the one place the test learns it.
    /// </summary>
    public static string KeyText(IEnumerable<string> parts) => string.Join('/', parts);

    public static string Quote(string identifier) => "\"" + identifier.Replace("\"", "\"\"") + "\"";
}
