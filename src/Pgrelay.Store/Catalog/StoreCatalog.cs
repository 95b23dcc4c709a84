using Pgrelay.Core.Keys;
using Pgrelay.Core.Model;
using Pgrelay.Store.Tables;
using Pgrelay.Store.Writing;

namespace Pgrelay.Store.Catalog;

/// <summary>
/// The tables the store holds (by relation id, for the writer) and the publications that name them (for readers, who
/// resolve <c>publication.table.key</c> without locks or allocation). The writer replaces the arrays; readers take one
/// volatile read.
/// </summary>
internal sealed class StoreCatalog(CommitVisibility visibility)
{
    private Dictionary<uint, StoredTable> _tables = [];
    private PublicationView[] _publications = [];

    public IReadOnlyList<PublicationView> Publications => Volatile.Read(ref _publications);

    public IEnumerable<StoredTable> Tables => Publications.SelectMany(p => p.Tables).Distinct();

    /// <summary>Writer only: a fresh set of empty tables for a snapshot of these publications.</summary>
    public void Reset(IReadOnlyList<PublicationSchema> publications)
    {
        var tables = new Dictionary<uint, StoredTable>();
        var views = new List<PublicationView>();
        foreach (var publication in publications)
        {
            var members = new List<StoredTable>();
            foreach (var schema in publication.Tables)
            {
                if (!tables.TryGetValue(schema.RelationId, out var table))
                    tables[schema.RelationId] = table = new StoredTable(visibility, schema);
                members.Add(table);
            }
            views.Add(new PublicationView(publication.Name, members));
        }
        _tables = tables;
        Volatile.Write(ref _publications, views.ToArray());
    }

    public IEnumerable<StoredTable> HeldTables => _tables.Values;

    /// <summary>Writer only: the table for a relation, starting to hold one that was not snapshotted (added to the
    /// publication while running), visible under every publication since pgoutput does not say which one it came through.</summary>
    public StoredTable TableFor(TableSchema schema)
    {
        if (_tables.TryGetValue(schema.RelationId, out var table)) return table;
        table = new StoredTable(visibility, schema);
        _tables[schema.RelationId] = table;
        var views = _publications.Select(p => new PublicationView(p.Name, [.. p.Tables, table])).ToArray();
        Volatile.Write(ref _publications, views);
        return table;
    }

    /// <summary>The publication whose key name (escaped) is <paramref name="utf8KeyName"/>.</summary>
    public PublicationView? FindPublication(ReadOnlySpan<byte> utf8KeyName)
    {
        // An array loop, not foreach over the interface: this runs on every read and must not allocate.
        var publications = Volatile.Read(ref _publications);
        for (int i = 0; i < publications.Length; i++)
            if (utf8KeyName.SequenceEqual(publications[i].Utf8KeyName)) return publications[i];
        return null;
    }

    /// <summary>Splits <c>publication.table.key</c>; <paramref name="rowKeyStart"/> is where the row key begins. The
    /// publication ends at the first '.' (a '.' in its name is escaped).</summary>
    public bool TryResolveKey(ReadOnlySpan<byte> fullKey, out PublicationView? publication, out StoredTable? table, out int rowKeyStart)
    {
        publication = null;
        table = null;
        rowKeyStart = 0;
        int dot = fullKey.IndexOf(CacheKey.Separator);
        if (dot <= 0) return false;
        publication = FindPublication(fullKey[..dot]);
        if (publication is null) return false;
        int consumed = publication.MatchTable(fullKey[(dot + 1)..], out table);
        if (consumed == 0) return false;
        rowKeyStart = dot + 1 + consumed;
        return true;
    }
}
