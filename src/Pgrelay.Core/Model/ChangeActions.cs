namespace Pgrelay.Core.Model;

/// <summary>The kinds of row change a publication can publish (pg_publication's pubinsert, pubupdate, pubdelete, pubtruncate).</summary>
[Flags]
public enum ChangeActions : byte
{
    None = 0,
    Insert = 1,
    Update = 2,
    Delete = 4,
    Truncate = 8,
    All = Insert | Update | Delete | Truncate,
}

public static class ChangeActionNames
{
    /// <summary>Lower-case names in the order PostgreSQL's <c>publish</c> option lists them.</summary>
    public static List<string> Names(this ChangeActions actions)
    {
        var names = new List<string>(4);
        if ((actions & ChangeActions.Insert) != 0) names.Add("insert");
        if ((actions & ChangeActions.Update) != 0) names.Add("update");
        if ((actions & ChangeActions.Delete) != 0) names.Add("delete");
        if ((actions & ChangeActions.Truncate) != 0) names.Add("truncate");
        return names;
    }
}
