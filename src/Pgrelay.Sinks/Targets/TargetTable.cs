using Pgrelay.Sinks.Events;

namespace Pgrelay.Sinks.Targets;

/// <summary>
/// A sink table as it exists in the target database: quoted names, the target's column types (for the casts from
/// text), and the statements built once for it.
/// </summary>
internal sealed class TargetTable
{
    public TargetTable(SinkTable table, string schema, IReadOnlyList<string> types)
    {
        Table = table;
        QualifiedName = $"{SinkTable.Quote(schema)}.{SinkTable.Quote(table.Name)}";
        Types = types;
        var columns = table.Columns;
        var names = columns.Select(c => SinkTable.Quote(c.Name)).ToArray();
        var keys = table.KeyColumns;
        var parameters = Enumerable.Range(0, columns.Count).Select(i => $"@p{i}::text[]");
        var aliases = Enumerable.Range(0, columns.Count).Select(i => $"c{i}");
        var casts = Enumerable.Range(0, columns.Count).Select(i => $"u.c{i}::{types[i]}");
        var updates = Enumerable.Range(0, columns.Count).Where(i => !keys.Contains(i)).Select(i => $"{names[i]} = EXCLUDED.{names[i]}").ToList();
        UpsertSql = $"INSERT INTO {QualifiedName} ({string.Join(", ", names)}) SELECT {string.Join(", ", casts)} " +
                    $"FROM unnest({string.Join(", ", parameters)}) AS u({string.Join(", ", aliases)}) " +
                    $"ON CONFLICT ({string.Join(", ", keys.Select(k => names[k]))}) " +
                    (updates.Count == 0 ? "DO NOTHING" : "DO UPDATE SET " + string.Join(", ", updates));
        DeleteSql = $"DELETE FROM {QualifiedName} AS t USING unnest({string.Join(", ", keys.Select((_, j) => $"@k{j}::text[]"))}) " +
                    $"AS d({string.Join(", ", keys.Select((_, j) => $"k{j}"))}) WHERE " +
                    string.Join(" AND ", keys.Select((k, j) => $"t.{names[k]} = d.k{j}::{types[k]}"));
        CopySql = $"COPY {QualifiedName} ({string.Join(", ", names)}) FROM STDIN";
        KeyCondition = string.Join(" AND ", keys.Select((k, j) => $"{names[k]} = @k{j}::{types[k]}"));
        Names = names;
    }

    public SinkTable Table { get; }
    public string QualifiedName { get; }
    public IReadOnlyList<string> Types { get; }
    public string[] Names { get; }
    public string UpsertSql { get; }
    public string DeleteSql { get; }
    /// <summary>COPY of every column in text format (initial loads into a table truncated in the same load).</summary>
    public string CopySql { get; }
    /// <summary>WHERE clause on the key with parameters @k0.. (single-row updates).</summary>
    public string KeyCondition { get; }
}
