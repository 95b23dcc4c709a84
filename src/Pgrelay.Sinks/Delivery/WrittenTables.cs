using Pgrelay.Sinks.Events;
using Pgrelay.Store;
using Pgrelay.Store.Tables;

namespace Pgrelay.Sinks.Delivery;

/// <summary>
/// The tables one sink has written (<see cref="WrittenTable"/>), kept with its checkpoint. A load clears them all at the
/// target, not only the ones it loads: a table removed from the publications while pgrelay was down is not held by the
/// restarted store, and without this its rows would stay at the target (and a re-added table's rows land on top of them).
/// The set only grows while the sink streams, and is made durable before a delivery writes a table it lacks (a crash
/// then leaves a superset, which costs at most a needless truncate); it becomes the loaded tables once a load is
/// checkpointed. Used by the sink's runner only, on its own task.
/// </summary>
internal sealed class WrittenTables
{
    private readonly Dictionary<(uint RelationId, string Schema, string Name), SortedSet<string>> _tables = new();
    /// <summary>Layouts already noted under <see cref="_seenUnder"/>: an event costs one lookup unless its table is new.</summary>
    private readonly HashSet<SinkTable> _seen = new(ReferenceEqualityComparer.Instance);
    private IReadOnlyList<PublicationView>? _seenUnder;
    private IReadOnlyList<WrittenTable>? _list;

    /// <param name="recorded">From the checkpoint file; null when it did not record them (an older version).</param>
    public WrittenTables(IReadOnlyList<WrittenTable>? recorded)
    {
        Recorded = recorded is not null;
        foreach (var t in recorded ?? []) Add(t);
    }

    /// <summary>False until the set is known whole: the checkpoint file came from a version that did not record it.</summary>
    public bool Recorded { get; private set; }

    /// <summary>The set, ordered by name (a new list after each change).</summary>
    public IReadOnlyList<WrittenTable> List => _list ??=
    [
        .. _tables.OrderBy(t => t.Key.Schema, StringComparer.Ordinal).ThenBy(t => t.Key.Name, StringComparer.Ordinal).ThenBy(t => t.Key.RelationId)
            .Select(t => new WrittenTable(t.Key.RelationId, t.Key.Schema, t.Key.Name, [.. t.Value])),
    ];

    /// <summary>Adds the tables these events write, under the publications that hold their source tables now; true when
    /// the set grew.</summary>
    public bool Note(List<ChangeEvent> events, IReadOnlyList<PublicationView> publications)
    {
        if (!ReferenceEquals(publications, _seenUnder))
        {
            // Membership changed: a table may be written under a publication it joined.
            _seen.Clear();
            _seenUnder = publications;
        }
        bool grew = false;
        foreach (var e in events)
            if (e is { Table: { } table, SourceTable: { } source } && _seen.Add(table))
                grew |= Add(new WrittenTable(source.RelationId, table.Schema, table.Name, PublicationsOf(source, publications)));
        return grew;
    }

    /// <summary>Adds <paramref name="tables"/>; true when the set grew.</summary>
    public bool Add(IEnumerable<WrittenTable> tables)
    {
        bool grew = false;
        foreach (var t in tables) grew |= Add(t);
        return grew;
    }

    /// <summary>The set is <paramref name="tables"/> from now on (a load was checkpointed).</summary>
    public void Replace(IEnumerable<WrittenTable> tables)
    {
        _tables.Clear();
        _seen.Clear();
        _list = null;
        Recorded = true;
        Add(tables);
    }

    /// <summary>The publications (key names) holding <paramref name="source"/>: where the redis-hash sink writes its rows.</summary>
    public static string[] PublicationsOf(StoredTable source, IReadOnlyList<PublicationView> publications) =>
        [.. publications.Where(p => p.Tables.Contains(source)).Select(p => p.KeyName)];

    private bool Add(WrittenTable table)
    {
        var key = (table.RelationId, table.Schema, table.Name);
        bool grew = false;
        if (!_tables.TryGetValue(key, out var publications))
        {
            _tables[key] = publications = new SortedSet<string>(StringComparer.Ordinal);
            grew = true;
        }
        foreach (var p in table.Publications) grew |= publications.Add(p);
        if (grew) _list = null;
        return grew;
    }
}
