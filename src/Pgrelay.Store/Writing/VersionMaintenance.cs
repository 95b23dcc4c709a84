using Pgrelay.Core.Rows;
using Pgrelay.Store.Snapshots;
using Pgrelay.Store.Tables;

namespace Pgrelay.Store.Writing;

/// <summary>
/// Keys whose slot holds more than one version, in the order they got there. Once every reader can see a key's newest
/// version (its LSN at or below the pin horizon), the older versions go and a deleted key leaves the table. Writer only.
/// </summary>
internal sealed class VersionMaintenance(PinRegistry pins, RowKeys keys)
{
    private readonly Queue<(StoredTable Table, byte[] Row)> _queue = new();

    public void Enqueue(StoredTable table, byte[] row) => _queue.Enqueue((table, row));

    public void Clear() => _queue.Clear();

    public void Run(ulong visible)
    {
        ulong horizon = pins.Horizon(visible);
        while (_queue.TryPeek(out var entry))
        {
            ulong lsn = RowFormat.ReadLsn(entry.Row);
            if (lsn > horizon) break;
            _queue.Dequeue();
            var key = keys.Of(entry.Row, entry.Table.SchemaOf(entry.Row), out int hash);
            entry.Table.Collapse(key, hash, horizon);
        }
    }
}
