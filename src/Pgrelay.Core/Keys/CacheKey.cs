using System.Buffers;
using System.Text;
using Pgrelay.Core.Model;
using Pgrelay.Core.Rows;

namespace Pgrelay.Core.Keys;

/// <summary>
/// The key convention <c>publication.table.key</c>: composite keys join their columns with '/' in
/// key order (pub.cities.Tulsa/OK). The table part is the bare name in schema public, else schema.table.
/// </summary>
public static class CacheKey
{
    public const byte Separator = (byte)'.';
    public const byte KeyJoiner = (byte)'/';

    /// <summary>Length of the row-key part (key columns joined by '/').</summary>
    public static int RowKeyLength(RowView row, TableSchema table)
    {
        int length = table.KeyColumns.Length - 1;
        foreach (int c in table.KeyColumns) length += row.Value(c).Length;
        return Math.Max(length, 0);
    }

    /// <summary>Writes the row-key part; returns bytes written.</summary>
    public static int WriteRowKey(RowView row, TableSchema table, Span<byte> destination)
    {
        int written = 0;
        var keys = table.KeyColumns;
        for (int i = 0; i < keys.Length; i++)
        {
            if (i > 0) destination[written++] = KeyJoiner;
            var value = row.Value(keys[i]);
            value.CopyTo(destination[written..]);
            written += value.Length;
        }
        return written;
    }

    public static void WriteRowKey(RowView row, TableSchema table, IBufferWriter<byte> writer)
    {
        int length = RowKeyLength(row, table);
        int written = WriteRowKey(row, table, writer.GetSpan(length));
        writer.Advance(written);
    }

    /// <summary>Writes publication.table.rowkey.</summary>
    public static void WriteFullKey(ReadOnlySpan<byte> publication, RowView row, TableSchema table, IBufferWriter<byte> writer)
    {
        int length = publication.Length + 1 + table.Utf8KeyName.Length + 1 + RowKeyLength(row, table);
        var span = writer.GetSpan(length);
        publication.CopyTo(span);
        int at = publication.Length;
        span[at++] = Separator;
        table.Utf8KeyName.CopyTo(span[at..]);
        at += table.Utf8KeyName.Length;
        span[at++] = Separator;
        at += WriteRowKey(row, table, span[at..]);
        writer.Advance(at);
    }

    public static string RowKeyString(RowView row, TableSchema table)
    {
        var buffer = new byte[RowKeyLength(row, table)];
        WriteRowKey(row, table, buffer);
        return Encoding.UTF8.GetString(buffer);
    }

    /// <summary>True when the row's key columns joined by '/' equal <paramref name="rowKey"/>; compares in place.</summary>
    public static bool Matches(RowView row, TableSchema table, ReadOnlySpan<byte> rowKey)
    {
        var keys = table.KeyColumns;
        for (int i = 0; i < keys.Length; i++)
        {
            if (i > 0)
            {
                if (rowKey.IsEmpty || rowKey[0] != KeyJoiner) return false;
                rowKey = rowKey[1..];
            }
            var value = row.Value(keys[i]);
            if (!rowKey.StartsWith(value)) return false;
            rowKey = rowKey[value.Length..];
        }
        return rowKey.IsEmpty;
    }
}
