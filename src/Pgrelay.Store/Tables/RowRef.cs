using System.Buffers;
using Pgrelay.Core.Keys;
using Pgrelay.Core.Model;
using Pgrelay.Core.Rows;

namespace Pgrelay.Store.Tables;

/// <summary>A row as a reader sees it: the version's bytes, the schema they were encoded for, and which of the version's
/// identical copies it is (always 1 in a table with a primary key).</summary>
public readonly struct RowRef(TableSchema schema, byte[] row, int copy = 1)
{
    public TableSchema Schema { get; } = schema;
    public byte[] Bytes { get; } = row;
    public RowView View => new(Bytes);
    /// <summary>1 for the first of identical rows, 2, 3, … for the others; their keys end in a copy part (see <see cref="CacheKey"/>).</summary>
    public int Copy { get; } = copy;
    /// <summary>Names this version: the end LSN of the transaction that wrote it, or the consistent point of the snapshot
    /// it came from. ETags, memcached CAS values and WATCH compare it.</summary>
    public Lsn VersionLsn => new(RowFormat.ReadLsn(Bytes));
    public bool IsDefault => Bytes is null;

    /// <summary>Writes publication.table.rowkey; <paramref name="publication"/> is the publication's key name.</summary>
    public void WriteFullKey(ReadOnlySpan<byte> publication, IBufferWriter<byte> writer) =>
        CacheKey.WriteFullKey(publication, View, Schema, writer, Copy);

    public int RowKeyLength => CacheKey.RowKeyLength(View, Schema, Copy);

    public int WriteRowKey(Span<byte> destination) => CacheKey.WriteRowKey(View, Schema, destination, Copy);

    public string RowKeyString() => CacheKey.RowKeyString(View, Schema, Copy);
}
