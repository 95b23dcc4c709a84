using System.Buffers;
using System.Buffers.Text;
using System.Text;
using Pgrelay.Core.Model;
using Pgrelay.Core.Rows;

namespace Pgrelay.Core.Keys;

/// <summary>
/// The key convention <c>publication.table.rowkey</c>, built so that every key names exactly one row and can be split
/// back into its parts:
/// <list type="bullet">
/// <item>The publication and the table are names with '.' and '%' escaped (<see cref="KeyEscaping"/>); the table is
/// the bare name in schema public, else schema.table. So the publication ends at the first '.', and a table part holds at
/// most one unescaped '.'.</item>
/// <item>The row key is the key columns' text in key order (the primary key's order), each part escaped ('%' → %25,
/// '/' → %2F) and joined by '/': (<c>x/y</c>, <c>z</c>) is <c>x%2Fy/z</c>, (<c>x</c>, <c>y/z</c>) is <c>x/y%2Fz</c>.
/// A NULL part (possible only in tables without a primary key) is <c>%FF</c>, which no value produces (a value's '%' is
/// always escaped) and which HTTP carries as a path segment as it is (a NUL byte, <c>%00</c>, would be the natural
/// choice, but HTTP servers refuse it in paths); the empty string is the empty part.</item>
/// <item>A table without a primary key is keyed by all its columns and may hold identical rows: the first copy has the
/// plain key, the k-th (k ≥ 2) one more part, <c>/k</c>. Deleting a copy removes the highest one, so the others keep
/// their keys.</item>
/// </list>
/// </summary>
public static class CacheKey
{
    public const byte Separator = (byte)'.';
    public const byte KeyJoiner = (byte)'/';

    /// <summary>The spelling of a NULL key part.</summary>
    public static ReadOnlySpan<byte> NullPart => "%FF"u8;

    /// <summary>The key part naming the <paramref name="copy"/>-th identical row: 2, 3, … (the first copy has none).</summary>
    private static int CopySuffixLength(int copy) => copy <= 1 ? 0 : 1 + DigitCount(copy);

    private static int DigitCount(int value)
    {
        int digits = 1;
        while (value >= 10) { value /= 10; digits++; }
        return digits;
    }

    /// <summary>Length of the row-key part.</summary>
    public static int RowKeyLength(RowView row, TableSchema table, int copy = 1) =>
        PartsLength(row, table.KeyColumns) + CopySuffixLength(copy);

    /// <summary>Writes the row-key part; returns bytes written.</summary>
    public static int WriteRowKey(RowView row, TableSchema table, Span<byte> destination, int copy = 1)
    {
        int written = WriteParts(row, table.KeyColumns, destination);
        if (copy > 1)
        {
            destination[written++] = KeyJoiner;
            Utf8Formatter.TryFormat(copy, destination[written..], out int digits);
            written += digits;
        }
        return written;
    }

    public static void WriteRowKey(RowView row, TableSchema table, IBufferWriter<byte> writer, int copy = 1)
    {
        int length = RowKeyLength(row, table, copy);
        int written = WriteRowKey(row, table, writer.GetSpan(length), copy);
        writer.Advance(written);
    }

    /// <summary>Writes publication.table.rowkey; <paramref name="publication"/> is the publication's escaped key name.</summary>
    public static void WriteFullKey(ReadOnlySpan<byte> publication, RowView row, TableSchema table, IBufferWriter<byte> writer, int copy = 1)
    {
        int length = publication.Length + 1 + table.Utf8KeyName.Length + 1 + RowKeyLength(row, table, copy);
        var span = writer.GetSpan(length);
        publication.CopyTo(span);
        int at = publication.Length;
        span[at++] = Separator;
        table.Utf8KeyName.CopyTo(span[at..]);
        at += table.Utf8KeyName.Length;
        span[at++] = Separator;
        at += WriteRowKey(row, table, span[at..], copy);
        writer.Advance(at);
    }

    public static string RowKeyString(RowView row, TableSchema table, int copy = 1)
    {
        var buffer = new byte[RowKeyLength(row, table, copy)];
        WriteRowKey(row, table, buffer, copy);
        return Encoding.UTF8.GetString(buffer);
    }

    /// <summary>Length of the given columns as escaped parts joined by '/'.</summary>
    public static int PartsLength(RowView row, int[] columns)
    {
        int length = Math.Max(columns.Length - 1, 0);
        foreach (int c in columns)
            length += row.IsNull(c) ? NullPart.Length : KeyEscaping.EscapedLength(row.Value(c), KeyJoiner);
        return length;
    }

    /// <summary>Writes the given columns as escaped parts joined by '/'; returns bytes written.</summary>
    public static int WriteParts(RowView row, int[] columns, Span<byte> destination)
    {
        int written = 0;
        for (int i = 0; i < columns.Length; i++)
        {
            if (i > 0) destination[written++] = KeyJoiner;
            if (row.IsNull(columns[i]))
            {
                NullPart.CopyTo(destination[written..]);
                written += NullPart.Length;
            }
            else
            {
                written += KeyEscaping.Write(row.Value(columns[i]), KeyJoiner, destination[written..]);
            }
        }
        return written;
    }

    /// <summary>True when the row's key parts spell exactly <paramref name="rowKey"/> (a key without a copy part); compares in place.</summary>
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
            int consumed;
            if (row.IsNull(keys[i]))
            {
                if (!rowKey.StartsWith(NullPart)) return false;
                consumed = NullPart.Length;
            }
            else if (!KeyEscaping.StartsWithEscaped(rowKey, row.Value(keys[i]), KeyJoiner, out consumed))
            {
                return false;
            }
            rowKey = rowKey[consumed..];
        }
        return rowKey.IsEmpty;
    }

    /// <summary>
    /// Splits the copy part off a row key of a table without primary key: returns the length of the key proper and the
    /// copy it names (1 when there is no copy part). A key of such a table has one part per column; one more part is a
    /// copy number, in its only spelling (2, 3, …; no sign, no leading zero). Returns -1 for a key no copy can have.
    /// </summary>
    public static int SplitCopy(ReadOnlySpan<byte> rowKey, TableSchema table, out int copy)
    {
        copy = 1;
        int joiners = rowKey.Count(KeyJoiner);   // every '/' separates: a '/' inside a value is escaped
        int parts = Math.Max(table.KeyColumns.Length - 1, 0);
        if (joiners == parts) return rowKey.Length;
        if (joiners != parts + 1) return -1;
        int last = rowKey.LastIndexOf(KeyJoiner);
        var digits = rowKey[(last + 1)..];
        if (digits.IsEmpty || digits[0] == (byte)'0' || digits.Length > 10) return -1;
        foreach (byte d in digits)
            if (d is < (byte)'0' or > (byte)'9') return -1;
        if (!Utf8Parser.TryParse(digits, out int n, out int used) || used != digits.Length || n < 2) return -1;
        copy = n;
        return last;
    }

    /// <summary>The table part of keys: the bare name in schema public, else schema.table, each name escaped.</summary>
    public static string TableKeyName(string schema, string table) =>
        schema == "public" ? KeyEscaping.EscapeName(table) : KeyEscaping.EscapeName(schema) + "." + KeyEscaping.EscapeName(table);
}
