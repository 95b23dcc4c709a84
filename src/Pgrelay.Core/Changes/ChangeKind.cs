namespace Pgrelay.Core.Changes;

public enum ChangeKind : byte
{
    Insert = (byte)'c',
    Update = (byte)'u',
    Delete = (byte)'d',
    Truncate = (byte)'t',
    /// <summary>The table's shape changed (ALTER TABLE): <see cref="RowChange.Table"/> is the new schema.</summary>
    Relation = (byte)'r',
    /// <summary>
    /// A copy of the table loaded beside the stream (<see cref="IReplicationTarget.BeginTableLoad"/>) replaces what the
    /// target holds of it, inside this transaction. Never reaches the feed: the target emits the rows that differ instead.
    /// </summary>
    Load = (byte)'l',
    /// <summary>The table left every replicated publication: the target stops holding it. The feed sees a truncate.</summary>
    Unpublish = (byte)'x',
}
