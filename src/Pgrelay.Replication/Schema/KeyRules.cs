using Pgrelay.Core.Model;

namespace Pgrelay.Replication.Schema;

/// <summary>
/// Which columns key a row, and which the replica identity names. The key is the primary key whatever the replica
/// identity (pgoutput's key flags describe the identity, which says what an UPDATE's or DELETE's old row carries, not
/// what names a row). A table whose primary key is not published (none, or left out of the column list) is keyed by all
/// its published columns: a multiset of rows, identical ones kept as copies.
/// </summary>
internal static class KeyRules
{
    /// <summary>The primary key's attnums in key order, or null when the table is keyed by all its columns.</summary>
    public static short[]? KeyAttnums(short[]? primaryKey, IReadOnlyCollection<short> published) =>
        primaryKey is { Length: > 0 } && primaryKey.All(published.Contains) ? primaryKey : null;

    /// <summary>The columns an old row carries: DEFAULT the primary key (none without one), USING INDEX the index's,
    /// FULL every column, NOTHING none.</summary>
    public static short[] IdentityAttnums(ReplicaIdentity identity, short[]? primaryKey, short[]? identityIndex, IEnumerable<short> allColumns) =>
        identity switch
        {
            ReplicaIdentity.Default => primaryKey ?? [],
            ReplicaIdentity.Index => identityIndex ?? [],
            ReplicaIdentity.Full => [.. allColumns],
            _ => [],
        };

    /// <summary>
    /// Key names that make keys ambiguous within one publication: a public table X (key name "X") and a table in schema X
    /// (key name "X.t"), since <c>pub.X.t.1</c> would name row <c>t.1</c> of the first and row <c>1</c> of the second.
    /// Names escape their own dots, so no other pair can collide.
    /// </summary>
    public static IEnumerable<(string Shorter, string Longer)> AmbiguousKeyNames(IEnumerable<string> keyNames)
    {
        var names = keyNames.Distinct().ToList();
        foreach (var shorter in names)
            foreach (var longer in names)
                if (longer.Length > shorter.Length + 1 && longer.StartsWith(shorter, StringComparison.Ordinal) && longer[shorter.Length] == '.')
                    yield return (shorter, longer);
    }
}
