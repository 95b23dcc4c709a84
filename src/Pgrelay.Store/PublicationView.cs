using System.Text;
using Pgrelay.Core.Keys;
using Pgrelay.Store.Tables;

namespace Pgrelay.Store;

/// <summary>A publication's namespace of keys: <c>name.table.key</c>, the name escaped (see <see cref="CacheKey"/>).</summary>
public sealed class PublicationView(string name, IReadOnlyList<StoredTable> tables)
{
    private readonly StoredTable[] _tables = tables.ToArray();

    public string Name { get; } = name;
    /// <summary>The publication part of keys: the name with '.' and '%' escaped, so a key's publication ends at its first '.'.</summary>
    public string KeyName { get; } = KeyEscaping.EscapeName(name);
    public byte[] Utf8KeyName { get; } = Encoding.UTF8.GetBytes(KeyEscaping.EscapeName(name));
    public IReadOnlyList<StoredTable> Tables => _tables;

    /// <summary>Finds the table whose key name starts <paramref name="rest"/> and is followed by '.';
    /// returns the length consumed including the dot, or 0. Table parts hold at most one unescaped '.', and a publication
    /// never holds both a public table X and a table in schema X (introspection refuses it), so at most one table fits.</summary>
    public int MatchTable(ReadOnlySpan<byte> rest, out StoredTable? table)
    {
        table = null;
        int best = 0;
        foreach (var candidate in _tables)   // array: no enumerator allocation on the read path
        {
            var name = candidate.Schema.Utf8KeyName;
            if (rest.Length > name.Length && rest[name.Length] == (byte)'.' && rest.StartsWith(name) && name.Length + 1 > best)
            {
                best = name.Length + 1;
                table = candidate;
            }
        }
        return best;
    }

    public StoredTable? FindTable(string keyName)
    {
        foreach (var t in Tables)
            if (t.KeyName == keyName) return t;
        return null;
    }
}
