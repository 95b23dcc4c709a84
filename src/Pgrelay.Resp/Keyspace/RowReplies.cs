using Pgrelay.Core.Rows;
using Pgrelay.Resp.Protocol;
using Pgrelay.Store.Tables;

namespace Pgrelay.Resp.Keyspace;

/// <summary>
/// A row as a Redis hash: field names are column names, values PostgreSQL's text output. NULL columns are
/// not fields at all (a hash cannot hold a null), so HGETALL, HKEYS, HVALS and HLEN all leave them out.
/// </summary>
public static class RowReplies
{
    public static bool HasField(in RowRef row, int column) => column >= 0 && row.View.State(column) == ColumnState.Value;

    public static int FieldCount(in RowRef row)
    {
        var view = row.View;
        int n = Math.Min(view.ColumnCount, row.Schema.Columns.Count), fields = 0;
        for (int c = 0; c < n; c++)
            if (view.State(c) == ColumnState.Value) fields++;
        return fields;
    }

    public static int ColumnOf(in RowRef row, ReadOnlySpan<byte> field)
    {
        int c = row.Schema.ColumnIndex(field);
        return c < row.View.ColumnCount ? c : -1;
    }

    public static void WriteHash(in RowRef row, RespWriter writer)
    {
        var view = row.View;
        var columns = row.Schema.Columns;
        int n = Math.Min(view.ColumnCount, columns.Count);
        writer.WriteMapHeader(FieldCount(row));
        for (int c = 0; c < n; c++)
        {
            if (view.State(c) != ColumnState.Value) continue;
            writer.WriteBulk(columns[c].Utf8Name);
            writer.WriteBulk(view.Value(c));
        }
    }

    /// <summary>HKEYS (names) or HVALS (values).</summary>
    public static void WriteFieldsOrValues(in RowRef row, RespWriter writer, bool names)
    {
        var view = row.View;
        var columns = row.Schema.Columns;
        int n = Math.Min(view.ColumnCount, columns.Count);
        writer.WriteArrayHeader(FieldCount(row));
        for (int c = 0; c < n; c++)
        {
            if (view.State(c) != ColumnState.Value) continue;
            if (names) writer.WriteBulk(columns[c].Utf8Name);
            else writer.WriteBulk(view.Value(c));
        }
    }

    /// <summary>Bytes the row costs in memory: its record in a page (body and record flags) and its index slot at 3/4 load.</summary>
    public static long MemoryUsage(in RowRef row) => row.View.Body.Length + 1 + sizeof(ulong) * 4 / 3;
}
