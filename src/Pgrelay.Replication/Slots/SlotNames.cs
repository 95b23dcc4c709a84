using System.Text;

namespace Pgrelay.Replication.Slots;

/// <summary>Replication slot names: lower-case letters, digits and underscore, at most 63 bytes.</summary>
public static class SlotNames
{
    public const string Prefix = "pgrelay_";

    public static bool IsValid(string name) =>
        name.Length is > 0 and <= 63 && name.All(c => c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '_');

    /// <summary>
    /// <c>pgrelay_&lt;database&gt;_&lt;8 random hex digits&gt;</c>, with anything a slot name cannot hold replaced by '_': one
    /// slot per instance, so N instances with default settings never share (and take) one slot.
    /// </summary>
    public static string NewFor(string database)
    {
        var suffix = "_" + Convert.ToHexString(Guid.NewGuid().ToByteArray(), 0, 4).ToLowerInvariant();
        var sb = new StringBuilder(Prefix);
        foreach (var c in database.ToLowerInvariant())
            sb.Append(c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '_' ? c : '_');
        if (sb.Length > 63 - suffix.Length) sb.Length = 63 - suffix.Length;
        return sb.Append(suffix).ToString();
    }
}
