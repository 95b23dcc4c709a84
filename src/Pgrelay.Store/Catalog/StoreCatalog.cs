using Pgrelay.Core.Keys;
using Pgrelay.Core.Model;
using Pgrelay.Store.Tables;
using Pgrelay.Store.Writing;

namespace Pgrelay.Store.Catalog;

/// <summary>
/// The tables the store holds (by relation id, for the writer) and the publications that name them (for readers, who
/// resolve <c>publication.table.key</c> without locks or allocation). The writer replaces the arrays; readers take one
/// volatile read.
/// <para>A fresh snapshot over a store that already serves data is built aside (<see cref="Reset"/> with keepServing) and
/// replaces the served tables in one step (<see cref="PublishReset"/>): readers keep the old consistent data meanwhile.</para>
/// </summary>
internal sealed class StoreCatalog(CommitVisibility visibility, KeyHasher hasher)
{
    private Dictionary<uint, StoredTable> _tables = [];
    private PublicationView[] _publications = [];
    private (Dictionary<uint, StoredTable> Tables, PublicationView[] Views)? _next;   // a snapshot being loaded aside

    public IReadOnlyList<PublicationView> Publications => Volatile.Read(ref _publications);

    public IEnumerable<StoredTable> Tables => Publications.SelectMany(p => p.Tables).Distinct();

    /// <summary>Writer only: a fresh set of empty tables for a snapshot of these publications. With
    /// <paramref name="keepServing"/> they are loaded aside and readers keep the current tables until <see cref="PublishReset"/>.</summary>
    public void Reset(IReadOnlyList<PublicationSchema> publications, bool keepServing)
    {
        var tables = new Dictionary<uint, StoredTable>();
        var views = new List<PublicationView>();
        foreach (var publication in publications)
        {
            var members = new List<StoredTable>();
            foreach (var schema in publication.Tables)
            {
                if (!tables.TryGetValue(schema.RelationId, out var table))
                    tables[schema.RelationId] = table = new StoredTable(visibility, schema, hasher);
                members.Add(table);
            }
            views.Add(new PublicationView(publication.Name, members));
        }
        if (keepServing)
        {
            _next = (tables, views.ToArray());
            return;
        }
        _next = null;
        _tables = tables;
        Volatile.Write(ref _publications, views.ToArray());
    }

    /// <summary>Writer only: the snapshot loaded aside becomes what readers see.</summary>
    public void PublishReset()
    {
        if (_next is not { } next) return;
        _next = null;
        _tables = next.Tables;
        Volatile.Write(ref _publications, next.Views);
    }

    /// <summary>The tables the snapshot being loaded fills (the served ones unless one is loaded aside).</summary>
    public IEnumerable<StoredTable> SnapshotTables => (_next?.Tables ?? _tables).Values;

    /// <summary>Writer only: the table a snapshot row of <paramref name="schema"/> goes to.</summary>
    public StoredTable SnapshotTable(TableSchema schema)
    {
        var tables = _next?.Tables ?? _tables;
        if (!tables.TryGetValue(schema.RelationId, out var table))
            tables[schema.RelationId] = table = new StoredTable(visibility, schema, hasher);
        return table;
    }

    /// <summary>Writer only: the held table of a relation, or null when the store does not hold it (not loaded yet).</summary>
    public StoredTable? Find(uint relationId) => _tables.GetValueOrDefault(relationId);

    /// <summary>Writer only: holds <paramref name="table"/> under exactly these publications (a table just loaded beside the
    /// stream, or one whose publications changed), replacing any other table object of its relation.</summary>
    public void Hold(StoredTable table, IReadOnlyCollection<string> publications)
    {
        _tables[table.RelationId] = table;
        var views = _publications.Select(p =>
        {
            var others = p.Tables.Where(t => t.RelationId != table.RelationId);
            return new PublicationView(p.Name, publications.Contains(p.Name) ? [.. others, table] : [.. others]);
        }).ToArray();
        Volatile.Write(ref _publications, views);
    }

    /// <summary>Writer only: stops holding a table (it left every publication).</summary>
    public void Remove(StoredTable table)
    {
        _tables.Remove(table.RelationId);
        Volatile.Write(ref _publications,
            _publications.Select(p => new PublicationView(p.Name, p.Tables.Where(t => !ReferenceEquals(t, table)).ToList())).ToArray());
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
