using Pgrelay.Core.Model;

namespace Pgrelay.Replication.Schema;

/// <summary>
/// Which columns identify a row: the primary key; else the replica identity index; else, for
/// REPLICA IDENTITY FULL, every column. A table with none of these cannot be cached by key and is skipped
/// (PostgreSQL could not tell us which row an UPDATE or DELETE touched).
/// The key's column order (for joining composite keys) comes from the index; see PublicationIntrospector.
/// </summary>
internal static class KeyRules
{
    public static HashSet<short>? KeyAttnums(ReplicaIdentity identity, short[]? primaryKey, short[]? identityIndex, IEnumerable<short> allColumns)
    {
        if (primaryKey is { Length: > 0 }) return [.. primaryKey];
        if (identity == ReplicaIdentity.Index && identityIndex is { Length: > 0 }) return [.. identityIndex];
        if (identity == ReplicaIdentity.Full) return [.. allColumns];
        return null;
    }
}
