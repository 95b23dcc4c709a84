namespace Pgrelay.Store.Tables;

/// <summary>
/// A row version with the versions before it. A slot holds either a bare row array (its only
/// version) or a chain of these, newest first, while readers may still need older versions.
/// </summary>
internal sealed class VersionNode(byte[] row, object? older)
{
    /// <summary>Marks a chain cut by maintenance: no reader can need anything older (see <see cref="RowTable"/>).</summary>
    public static readonly object Pruned = new();

    public readonly byte[] Row = row;
    public object? Older = older;
}
