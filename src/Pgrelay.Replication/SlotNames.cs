using System.Text;

namespace Pgrelay.Replication;

/// <summary>Replication slot names: lower-case letters, digits and underscore, at most 63 bytes.</summary>
public static class SlotNames
{
    public static bool IsValid(string name) =>
        name.Length is > 0 and <= 63 && name.All(c => c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '_');

    /// <summary><c>pgrelay_&lt;database&gt;</c> with anything a slot name cannot hold replaced by '_'.</summary>
    public static string DefaultFor(string database)
    {
        var sb = new StringBuilder("pgrelay_");
        foreach (var c in database.ToLowerInvariant())
            sb.Append(c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '_' ? c : '_');
        return sb.Length > 63 ? sb.ToString(0, 63) : sb.ToString();
    }
}
