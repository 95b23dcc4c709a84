using Pgrelay.Core.Changes;
using Pgrelay.Core.Keys;
using Pgrelay.Core.Model;
using Pgrelay.Core.Rows;

namespace Pgrelay.Replication.Tests;

/// <summary>
/// A small in-memory <see cref="IReplicationTarget"/> for tests: materialises rows as strings per table,
/// following the contract (replays at or below AppliedLsn ignored, unchanged TOAST values kept, relation
/// changes remap rows by name, or by position and type for a rename).
/// </summary>
public sealed class RecordingTarget : IReplicationTarget
{
    private readonly object _lock = new();
    private readonly Dictionary<uint, TableData> _tables = new();
    private long _applied;

    public sealed class TableData(TableSchema schema)
    {
        public TableSchema Schema { get; set; } = schema;
        public Dictionary<string, string?[]> Rows { get; } = new();
    }

    public sealed record AppliedTransaction(uint Xid, Lsn CommitLsn, int Count, IReadOnlyList<ChangeKind> Kinds);

    public List<AppliedTransaction> Transactions { get; } = new();
    public int SnapshotsBegun { get; private set; }

    public Lsn AppliedLsn => new((ulong)Interlocked.Read(ref _applied));
    public Lsn SafeToConfirmLsn { get; private set; }

    public void BeginSnapshot(IReadOnlyList<PublicationSchema> publications, Lsn? replayFrom = null)
    {
        lock (_lock)
        {
            SnapshotsBegun++;
            _tables.Clear();
            foreach (var t in publications.SelectMany(p => p.Tables)) _tables[t.RelationId] = new TableData(t);
            Interlocked.Exchange(ref _applied, 0);
        }
    }

    public void LoadSnapshotRows(TableSchema table, IReadOnlyList<byte[]> rows)
    {
        lock (_lock)
        {
            var data = _tables[table.RelationId];
            foreach (var row in rows)
            {
                var values = Values(new RowView(row), table, null);
                var key = CacheKey.RowKeyString(new RowView(row), table);
                if (!data.Rows.TryAdd(key, values)) throw new InvalidOperationException($"snapshot copied {table}.{key} twice");
            }
        }
    }

    public void CompleteSnapshot(Lsn consistentPoint)
    {
        Interlocked.Exchange(ref _applied, (long)consistentPoint.Value);
        SafeToConfirmLsn = consistentPoint;
    }

    public TransactionRoute Route(Lsn commitLsn) => commitLsn >= AppliedLsn ? TransactionRoute.Apply : TransactionRoute.Skip;

    public void Apply(Transaction transaction)
    {
        if (Route(transaction.CommitLsn) != TransactionRoute.Apply) return;
        var kinds = new List<ChangeKind>();
        lock (_lock)
        {
            foreach (var change in transaction.Changes)
            {
                kinds.Add(change.Kind);
                ApplyChange(change);
            }
            if (kinds.Count != transaction.Count) throw new InvalidOperationException($"transaction said {transaction.Count} changes, had {kinds.Count}");
            Transactions.Add(new AppliedTransaction(transaction.Xid, transaction.CommitLsn, transaction.Count, kinds));
        }
        Interlocked.Exchange(ref _applied, (long)transaction.EndLsn.Value);
        SafeToConfirmLsn = transaction.EndLsn;
    }

    public TableData Table(string name)
    {
        lock (_lock) return _tables.Values.Single(t => t.Schema.TableName == name);
    }

    /// <summary>A copy of a table's rows, safe to read while replication goes on.</summary>
    public (TableSchema Schema, Dictionary<string, string?[]> Rows) Snapshot(string name)
    {
        lock (_lock)
        {
            var t = _tables.Values.Single(x => x.Schema.TableName == name);
            return (t.Schema, t.Rows.ToDictionary(kv => kv.Key, kv => kv.Value.ToArray()));
        }
    }

    private void ApplyChange(RowChange change)
    {
        var schema = change.Table;
        if (!_tables.TryGetValue(schema.RelationId, out var data))
            _tables[schema.RelationId] = data = new TableData(schema);
        switch (change.Kind)
        {
            case ChangeKind.Insert:
                data.Rows[Key(change.NewRow!, schema)] = Values(new RowView(change.NewRow!), schema, null);
                break;
            case ChangeKind.Update:
            {
                var newKey = Key(change.NewRow!, schema);
                var oldKey = change.OldRow is null ? newKey : Key(change.OldRow, schema);
                data.Rows.Remove(oldKey, out var previous);
                data.Rows[newKey] = Values(new RowView(change.NewRow!), schema, previous);
                break;
            }
            case ChangeKind.Delete:
                data.Rows.Remove(Key(change.OldRow!, schema));
                break;
            case ChangeKind.Truncate:
                data.Rows.Clear();
                break;
            case ChangeKind.Relation:
                Remap(data, schema, change.NewRow);
                break;
        }
    }

    private static void Remap(TableData data, TableSchema to, byte[]? defaults)
    {
        var from = data.Schema;
        var map = new int[to.Columns.Count];
        for (int i = 0; i < map.Length; i++)
        {
            map[i] = from.ColumnIndex(to.Columns[i].Name);
            // A rename keeps position and type.
            if (map[i] < 0 && i < from.Columns.Count && from.Columns[i].TypeOid == to.Columns[i].TypeOid &&
                to.ColumnIndex(from.Columns[i].Name) < 0)
                map[i] = i;
        }
        var defaultValues = defaults is null ? null : Values(new RowView(defaults), to, null);
        var rows = data.Rows.Values.ToList();
        data.Rows.Clear();
        data.Schema = to;
        foreach (var old in rows)
        {
            var values = new string?[map.Length];
            for (int i = 0; i < map.Length; i++) values[i] = map[i] >= 0 ? old[map[i]] : defaultValues?[i];
            data.Rows[string.Join('/', to.KeyColumns.Select(k => values[k]))] = values;
        }
    }

    private static string Key(byte[] row, TableSchema schema) => CacheKey.RowKeyString(new RowView(row), schema);

    private static string?[] Values(RowView row, TableSchema schema, string?[]? previous)
    {
        var values = new string?[schema.Columns.Count];
        for (int i = 0; i < values.Length; i++)
        {
            values[i] = row.State(i) switch
            {
                ColumnState.Value => System.Text.Encoding.UTF8.GetString(row.Value(i)),
                ColumnState.Null => null,
                _ => previous is not null ? previous[i] : throw new InvalidOperationException($"unchanged column {schema.Columns[i].Name} without a previous row"),
            };
        }
        return values;
    }
}
