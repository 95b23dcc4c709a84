using Pgrelay.Core.Model;

namespace Pgrelay.Replication.Streaming;

/// <summary>
/// The table shapes the stream describes, by relation id: seeded from introspection, advanced when a transaction that
/// announced a new shape commits, and set to a loaded copy's schema when it replaces the table. Survives reconnects (the
/// target keeps its data).
/// </summary>
internal sealed class RelationCatalog
{
    private readonly Dictionary<uint, TableSchema> _tables = new();

    public RelationCatalog(IEnumerable<TableSchema> tables)
    {
        foreach (var t in tables) _tables[t.RelationId] = t;
    }

    public TableSchema? Find(uint relationId, TransactionBuffer? transaction) =>
        transaction is not null && transaction.Relations.TryGetValue(relationId, out var pending) ? pending
        : _tables.GetValueOrDefault(relationId);

    /// <summary>A table loaded beside the stream: the schema its copy was made with is what the target holds now.</summary>
    public void Adopt(TableSchema schema) => _tables[schema.RelationId] = schema;

    /// <summary>A committed transaction's relation shapes become current.</summary>
    public void Commit(TransactionBuffer transaction)
    {
        foreach (var (id, schema) in transaction.Relations) _tables[id] = schema;
    }
}
