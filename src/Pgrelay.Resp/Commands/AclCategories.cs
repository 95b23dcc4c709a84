namespace Pgrelay.Resp.Commands;

/// <summary>Redis's ACL command categories (<c>ACL CAT</c>), as bits so a rule like +@read is one OR.</summary>
[Flags]
public enum AclCategories : uint
{
    None = 0,
    Keyspace = 1 << 0,
    Read = 1 << 1,
    Write = 1 << 2,
    Set = 1 << 3,
    SortedSet = 1 << 4,
    List = 1 << 5,
    Hash = 1 << 6,
    String = 1 << 7,
    Bitmap = 1 << 8,
    HyperLogLog = 1 << 9,
    Geo = 1 << 10,
    Stream = 1 << 11,
    PubSub = 1 << 12,
    Admin = 1 << 13,
    Fast = 1 << 14,
    Slow = 1 << 15,
    Blocking = 1 << 16,
    Dangerous = 1 << 17,
    Connection = 1 << 18,
    Transaction = 1 << 19,
    Scripting = 1 << 20,
}

public static class AclCategoryNames
{
    /// <summary>Names in Redis's ACL CAT order.</summary>
    public static readonly (string Name, AclCategories Category)[] All =
    [
        ("keyspace", AclCategories.Keyspace), ("read", AclCategories.Read), ("write", AclCategories.Write),
        ("set", AclCategories.Set), ("sortedset", AclCategories.SortedSet), ("list", AclCategories.List),
        ("hash", AclCategories.Hash), ("string", AclCategories.String), ("bitmap", AclCategories.Bitmap),
        ("hyperloglog", AclCategories.HyperLogLog), ("geo", AclCategories.Geo), ("stream", AclCategories.Stream),
        ("pubsub", AclCategories.PubSub), ("admin", AclCategories.Admin), ("fast", AclCategories.Fast),
        ("slow", AclCategories.Slow), ("blocking", AclCategories.Blocking), ("dangerous", AclCategories.Dangerous),
        ("connection", AclCategories.Connection), ("transaction", AclCategories.Transaction), ("scripting", AclCategories.Scripting),
    ];

    public static bool TryParse(string name, out AclCategories category)
    {
        foreach (var (n, c) in All)
            if (string.Equals(n, name, StringComparison.OrdinalIgnoreCase)) { category = c; return true; }
        category = AclCategories.None;
        return false;
    }

    public static IEnumerable<string> Names(AclCategories categories)
    {
        foreach (var (n, c) in All)
            if ((categories & c) != 0) yield return n;
    }
}
