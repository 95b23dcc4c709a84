namespace Pgrelay.Core.Changes;

public enum ChangeKind : byte
{
    Insert = (byte)'c',
    Update = (byte)'u',
    Delete = (byte)'d',
    Truncate = (byte)'t',
    /// <summary>The table's shape changed (ALTER TABLE): <see cref="RowChange.Table"/> is the new schema.</summary>
    Relation = (byte)'r',
}
