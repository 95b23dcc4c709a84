using Pgrelay.Store;
using Pgrelay.Store.Tables;

namespace Pgrelay.Resp.Keyspace;

/// <summary>One publication's view of one table: the key prefix <c>publication.table.</c>.</summary>
public readonly record struct KeyNamespace(PublicationView Publication, StoredTable Table);

/// <summary>
/// Every (publication, table) pair in a fixed order, so a SCAN cursor can name "the n-th namespace". The
/// store replaces its publication list as a whole when it changes; the map rebuilds when that happens and
/// new tables land at the end, so cursors already handed out keep pointing at the same namespace.
/// </summary>
public sealed class KeyspaceMap(ReplicatedStore store)
{
    private sealed record Snapshot(IReadOnlyList<PublicationView> Source, KeyNamespace[] Entries);

    private Snapshot _current = new([], []);

    public KeyNamespace[] Current
    {
        get
        {
            var publications = store.Publications;
            var snapshot = Volatile.Read(ref _current);
            if (ReferenceEquals(snapshot.Source, publications)) return snapshot.Entries;
            var entries = new List<KeyNamespace>();
            foreach (var publication in publications)
                foreach (var table in publication.Tables)
                    entries.Add(new KeyNamespace(publication, table));
            snapshot = new Snapshot(publications, entries.ToArray());
            Volatile.Write(ref _current, snapshot);
            return snapshot.Entries;
        }
    }

    /// <summary>Keys in the whole keyspace: a row is one key in every publication that carries its table.</summary>
    public long KeyCount
    {
        get
        {
            long keys = 0;
            foreach (var ns in Current) keys += ns.Table.RowCount;
            return keys;
        }
    }

    /// <summary>Every publication namespace holding <paramref name="table"/> (for notifications).</summary>
    public IEnumerable<PublicationView> PublicationsOf(StoredTable table)
    {
        foreach (var ns in Current)
            if (ReferenceEquals(ns.Table, table)) yield return ns.Publication;
    }
}
