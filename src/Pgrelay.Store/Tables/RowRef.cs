using Pgrelay.Core.Model;
using Pgrelay.Core.Rows;

namespace Pgrelay.Store.Tables;

/// <summary>A row as a reader sees it: the version's bytes and the schema they were encoded for.</summary>
public readonly struct RowRef(TableSchema schema, byte[] row)
{
    public TableSchema Schema { get; } = schema;
    public byte[] Bytes { get; } = row;
    public RowView View => new(Bytes);
    /// <summary>Names this version: the end LSN of the transaction that wrote it, or the consistent point of the snapshot
    /// it came from. ETags, memcached CAS values and WATCH compare it.</summary>
    public Lsn VersionLsn => new(RowFormat.ReadLsn(Bytes));
    public bool IsDefault => Bytes is null;
}
