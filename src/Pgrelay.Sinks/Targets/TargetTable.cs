using Pgrelay.Sinks.Events;

namespace Pgrelay.Sinks.Targets;

/// <summary>
/// A sink table as it exists in the target database: quoted names, the target's column types (for the casts from
/// text), and the statements built once for it. Parameters are text (arrays): @p (new values), @k (keys), @w (old values).
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
        var all = Enumerable.Range(0, columns.Count).ToList();
        var parameters = all.Select(i => $"@p{i}::text[]");
        var aliases = all.Select(i => $"c{i}");
        var casts = all.Select(i => $"u.c{i}::{types[i]}");
        var updates = all.Where(i => !keys.Contains(i)).Select(i => $"{names[i]} = EXCLUDED.{names[i]}").ToList();
        var columnList = string.Join(", ", names);
        InsertSql = $"INSERT INTO {QualifiedName} ({columnList}) SELECT {string.Join(", ", casts)} " +
                    $"FROM unnest({string.Join(", ", parameters)}) AS u({string.Join(", ", aliases)})";
        UpsertSql = InsertSql + $" ON CONFLICT ({string.Join(", ", keys.Select(k => names[k]))}) " +
                    (updates.Count == 0 ? "DO NOTHING" : "DO UPDATE SET " + string.Join(", ", updates));
        DeleteSql = $"DELETE FROM {QualifiedName} AS t USING unnest({string.Join(", ", keys.Select((_, j) => $"@k{j}::text[]"))}) " +
                    $"AS d({string.Join(", ", keys.Select((_, j) => $"k{j}"))}) WHERE " +
                    string.Join(" AND ", keys.Select((k, j) => $"t.{names[k]} = d.k{j}::{types[k]}"));
        CopySql = $"COPY {QualifiedName} ({columnList}) FROM STDIN";
        SelectByKeysSql = $"SELECT {string.Join(", ", all.Select(i => $"t.{names[i]}::text"))} FROM {QualifiedName} AS t " +
                          $"JOIN unnest({string.Join(", ", keys.Select((_, j) => $"@k{j}::text[]"))}) AS d({string.Join(", ", keys.Select((_, j) => $"k{j}"))}) ON " +
                          string.Join(" AND ", keys.Select((k, j) => $"t.{names[k]} = d.k{j}::{types[k]}"));
        // One row of a multiset: compared as text, which every type has (json, point... have no "="), and which is how the
        // values arrived. IS NOT DISTINCT FROM: NULL matches NULL.
        var oneRow = $"(SELECT ctid FROM {QualifiedName} WHERE " +
                     string.Join(" AND ", all.Select(i => $"{names[i]}::text IS NOT DISTINCT FROM @w{i}::text")) + " LIMIT 1)";
        DeleteOneSql = $"DELETE FROM {QualifiedName} WHERE ctid = {oneRow}";
        var values = all.Select(i => $"@v{i}::text::{types[i]}").ToList();
        UpdateOneSql = $"WITH u AS (UPDATE {QualifiedName} SET {string.Join(", ", all.Select(i => $"{names[i]} = {values[i]}"))} " +
                       $"WHERE ctid = {oneRow} RETURNING 1) " +
                       $"INSERT INTO {QualifiedName} ({columnList}) SELECT {string.Join(", ", values)} WHERE NOT EXISTS (SELECT FROM u)";
        Names = names;
    }

    public SinkTable Table { get; }
    public string QualifiedName { get; }
    public IReadOnlyList<string> Types { get; }
    public string[] Names { get; }
    /// <summary>Inserts rows (@p0.. arrays): a multiset's inserts.</summary>
    public string InsertSql { get; }
    /// <summary>Inserts or replaces rows by key (@p0.. arrays).</summary>
    public string UpsertSql { get; }
    /// <summary>Deletes rows by key (@k0.. arrays).</summary>
    public string DeleteSql { get; }
    /// <summary>COPY of every column in text format (initial loads into a table truncated in the same load).</summary>
    public string CopySql { get; }
    /// <summary>Every column as text of the rows with the given keys (@k0.. arrays).</summary>
    public string SelectByKeysSql { get; }
    /// <summary>Deletes one row equal to the old values @w0.. (a multiset).</summary>
    public string DeleteOneSql { get; }
    /// <summary>Sets one row equal to the old values @w0.. to the new values @v0.. (a multiset); inserts it when none is.</summary>
    public string UpdateOneSql { get; }
}
