using Pgrelay.Replication.Schema;

namespace Pgrelay.Replication.Snapshot;

/// <summary>
/// One unit of snapshot copy work: a table's heap pages [FromPage, ToPage). ToPage null means "to the end",
/// so rows on pages beyond a stale relpages are still copied.
/// </summary>
public sealed record CopyRange(PublishedTable Table, long FromPage, long? ToPage)
{
    /// <summary>Splits a table into ranges of <paramref name="pagesPerRange"/> pages; a small table is one range without ctid bounds.</summary>
    public static IEnumerable<CopyRange> Split(PublishedTable table, int pagesPerRange)
    {
        if (table.IsPartitioned || table.RelPages <= pagesPerRange)
        {
            yield return new CopyRange(table, 0, null);
            yield break;
        }
        long ranges = (table.RelPages + pagesPerRange - 1) / pagesPerRange;
        for (long i = 0; i < ranges; i++)
            yield return new CopyRange(table, i * pagesPerRange, i == ranges - 1 ? null : (i + 1) * pagesPerRange);
    }

    public string CopyCommand()
    {
        var schema = Table.Schema;
        var columns = string.Join(", ", schema.Columns.Select(c => QuoteIdent(c.Name)));
        var conditions = new List<string>();
        if (FromPage > 0) conditions.Add($"ctid >= '({FromPage},0)'::tid");
        if (ToPage is { } to) conditions.Add($"ctid < '({to},0)'::tid");
        if (Table.RowFilter is { } filter) conditions.Add("(" + filter + ")");
        var where = conditions.Count == 0 ? "" : " WHERE " + string.Join(" AND ", conditions);
        // ONLY: inheritance children are published (and copied) on their own; a partitioned root has no rows of its own.
        var only = Table.IsPartitioned ? "" : "ONLY ";
        return $"COPY (SELECT {columns} FROM {only}{schema.QualifiedName}{where}) TO STDOUT";
    }

    public static string QuoteIdent(string name) => "\"" + name.Replace("\"", "\"\"") + "\"";
}
