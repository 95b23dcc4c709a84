using Pgrelay.Core.Model;
using Pgrelay.Core.Rows;

namespace Pgrelay.Store.Tables;

/// <summary>A row as a reader sees it: the version's bytes and the schema they were encoded for.</summary>
public readonly struct RowRef(TableSchema schema, byte[] row)
{
    public TableSchema Schema { get; } = schema;
    public byte[] Bytes { get; } = row;
    public RowView View => new(Bytes);
    public Lsn CommitLsn => new(RowFormat.ReadLsn(Bytes));
    public bool IsDefault => Bytes is null;
}
