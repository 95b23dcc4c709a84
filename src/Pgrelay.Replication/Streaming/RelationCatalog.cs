using Pgrelay.Core.Model;

namespace Pgrelay.Replication.Streaming;

/// <summary>
/// The table shapes the stream describes, by relation id: seeded from introspection, advanced when a transaction that
/// announced a new shape commits, and set to a loaded copy's schema when it replaces the table. Survives reconnects (the
/// target keeps its data).
/// Relations without a usable key are remembered as skipped, so their changes are dropped quietly.
/// </summary>
internal sealed class RelationCatalog
{
    private readonly Dictionary<uint, TableSchema> _tables = new();
    private readonly HashSet<uint> _skipped = new();

    public RelationCatalog(IEnumerable<TableSchema> tables)
    {
        foreach (var t in tables) _tables[t.RelationId] = t;
    }

    public TableSchema? Find(uint relationId, TransactionBuffer? transaction) =>
        transaction is not null && transaction.Relations.TryGetValue(relationId, out var pending) ? pending
        : _tables.GetValueOrDefault(relationId);

    public bool IsSkipped(uint relationId) => _skipped.Contains(relationId);

    /// <summary>Returns true the first time a relation is skipped (to log it once).</summary>
    public bool Skip(uint relationId)
    {
        _tables.Remove(relationId);
        return _skipped.Add(relationId);
    }

    /// <summary>A table loaded beside the stream: the schema its copy was made with is what the target holds now.</summary>
    public void Adopt(TableSchema schema)
    {
        _tables[schema.RelationId] = schema;
        _skipped.Remove(schema.RelationId);
    }

    /// <summary>A committed transaction's relation shapes become current.</summary>
    public void Commit(TransactionBuffer transaction)
    {
        foreach (var (id, schema) in transaction.Relations)
        {
            _tables[id] = schema;
            _skipped.Remove(id);
        }
    }
}
