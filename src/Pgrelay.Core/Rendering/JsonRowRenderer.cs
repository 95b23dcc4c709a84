using System.Buffers;
using Pgrelay.Core.Model;
using Pgrelay.Core.Rows;

namespace Pgrelay.Core.Rendering;

/// <summary>
/// Renders a row as a JSON object {"column": value, ...} in schema column order, straight into the
/// caller's buffer. The one JSON shape of a row, shared by HTTP, memcached and sinks.
/// </summary>
public static class JsonRowRenderer
{
    public static void Write(RowView row, TableSchema schema, IBufferWriter<byte> output)
    {
        var columns = schema.Columns;
        int present = row.ColumnCount;
        JsonOutput.WriteByte(output, (byte)'{');
        for (int i = 0; i < columns.Count; i++)
        {
            if (i > 0) JsonOutput.WriteByte(output, (byte)',');
            var column = columns[i];
            JsonStringWriter.Write(column.Utf8Name, output);
            JsonOutput.WriteByte(output, (byte)':');
            // Unchanged (TOAST) is resolved by the store before a reader can see the row; if it ever
            // leaks, null is the honest answer, never the empty placeholder.
            if (i >= present || row.State(i) != ColumnState.Value) JsonValueRenderer.WriteNull(output);
            else JsonValueRenderer.WriteValue(column.Kind, column.ElementKind, row.Value(i), output, column.Record);
        }
        JsonOutput.WriteByte(output, (byte)'}');
    }

    /// <summary>For tests, logs and cold paths.</summary>
    public static string ToJsonString(RowView row, TableSchema schema)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        Write(row, schema, buffer);
        return System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan);
    }
}
