using System.Buffers;
using Pgrelay.Core.Rows;
using Pgrelay.Sinks.Events;

namespace Pgrelay.Sinks.Targets;

/// <summary>
/// Rows in COPY's text format, written from the values' own UTF-8 bytes (PostgreSQL's text output, which is exactly what
/// COPY's input functions read back): no strings on the way, only the four characters COPY treats specially escaped.
/// </summary>
internal static class PostgresCopyText
{
    private static readonly SearchValues<byte> Special = SearchValues.Create("\\\t\n\r"u8);

    /// <summary>One line: values separated by tabs, NULL as \N. The row must be complete (no unchanged TOAST values).</summary>
    public static void AppendRow(ArrayBufferWriter<byte> output, SinkValue[] row)
    {
        for (int i = 0; i < row.Length; i++)
        {
            if (i > 0) Put(output, (byte)'\t');
            if (row[i].State == ColumnState.Value) AppendValue(output, row[i].Bytes.Span);
            else output.Write("\\N"u8);
        }
        Put(output, (byte)'\n');
    }

    private static void AppendValue(ArrayBufferWriter<byte> output, ReadOnlySpan<byte> value)
    {
        while (true)
        {
            int special = value.IndexOfAny(Special);
            if (special < 0)
            {
                output.Write(value);
                return;
            }
            output.Write(value[..special]);
            output.Write(value[special] switch
            {
                (byte)'\\' => "\\\\"u8,
                (byte)'\t' => "\\t"u8,
                (byte)'\n' => "\\n"u8,
                _ => "\\r"u8,
            });
            value = value[(special + 1)..];
        }
    }

    private static void Put(ArrayBufferWriter<byte> output, byte b)
    {
        output.GetSpan(1)[0] = b;
        output.Advance(1);
    }
}
