using Pgrelay.Core.Model;

namespace Pgrelay.Core.Changes;

/// <summary>
/// One table being loaded beside the running stream, into a copy nobody reads yet (a shadow). The copy's rows come from a
/// snapshot exported at consistent point P; the transactions committed at or after P that touched the table are then
/// applied to it (<see cref="ApplyTail"/>), and a <see cref="ChangeKind.Load"/> change puts it in place of what the target
/// held, atomically with the transaction that carries it.
/// </summary>
public interface ITableLoad : ISnapshotRowSink
{
    /// <summary>The table's schema as of the copy's snapshot.</summary>
    TableSchema Schema { get; }

    /// <summary>One transaction committed after the copy's snapshot, holding only this table's changes (in <see cref="Schema"/>),
    /// in commit order, from the writer's thread. Nothing of it becomes visible.</summary>
    void ApplyTail(Transaction transaction);

    /// <summary>Forgets the copy (the load starts over, or the table is no longer wanted).</summary>
    void Abandon();
}
