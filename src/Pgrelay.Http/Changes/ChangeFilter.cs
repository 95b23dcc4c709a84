using Pgrelay.Core.Changes;
using Pgrelay.Store;
using Pgrelay.Store.Feed;
using Pgrelay.Store.Tables;

namespace Pgrelay.Http.Changes;

/// <summary>
/// Which changes one stream shows and under which publication name. A change carries its table, not a
/// publication (a table may be in several), so: a stream scoped to a publication (the table route, or
/// /changes?publication=) names that one and shows only its tables; the unscoped /changes names the first
/// publication, in configuration order, that lists the table, and shows each change once.
/// Relation (schema) changes are not row changes and are never shown.
/// </summary>
internal sealed class ChangeFilter
{
    private readonly ReplicatedStore _store;
    private readonly string? _publication;
    private readonly StoredTable? _table;
    private IReadOnlyList<PublicationView>? _indexedFrom;
    private Dictionary<StoredTable, string> _names = [];

    private ChangeFilter(ReplicatedStore store, string? publication, StoredTable? table)
    {
        _store = store;
        _publication = publication;
        _table = table;
    }

    public static ChangeFilter All(ReplicatedStore store) => new(store, null, null);
    public static ChangeFilter Publication(ReplicatedStore store, string publication) => new(store, publication, null);
    public static ChangeFilter Table(ReplicatedStore store, string publication, StoredTable table) => new(store, publication, table);

    /// <summary>The publication name to show the change under, or null when this stream does not show it.</summary>
    public string? PublicationOf(in AppliedChange change)
    {
        if (change.Kind == ChangeKind.Relation) return null;
        if (_table is not null) return ReferenceEquals(change.Table, _table) ? _publication : null;
        var publications = _store.Publications;
        // Tables join publications only when the store swaps in a new list: rebuild the index then.
        if (!ReferenceEquals(publications, _indexedFrom)) Reindex(publications);
        return _names.GetValueOrDefault(change.Table);
    }

    private void Reindex(IReadOnlyList<PublicationView> publications)
    {
        var names = new Dictionary<StoredTable, string>(ReferenceEqualityComparer.Instance);
        foreach (var publication in publications)
        {
            if (_publication is not null && publication.Name != _publication) continue;
            foreach (var table in publication.Tables) names.TryAdd(table, publication.Name);
        }
        _names = names;
        _indexedFrom = publications;
    }
}
