using Pgrelay.Core.Changes;
using Pgrelay.Core.Keys;
using Pgrelay.Core.Model;
using Pgrelay.Core.Rows;

namespace Pgrelay.Replication.Tests;

/// <summary>
/// A small in-memory <see cref="IReplicationTarget"/> for tests: materialises rows as strings per table,
/// following the contract (replays at or below AppliedLsn ignored, unchanged TOAST values kept, changes of tables not
/// held ignored, a relation change that moves columns freezes the table until a load replaces it).
/// </summary>
public sealed class RecordingTarget : IReplicationTarget
{
    private readonly object _lock = new();
    private readonly Dictionary<uint, TableData> _tables = new();
    private readonly Dictionary<uint, Load> _loads = new();
    private long _applied;

    public sealed class TableData(TableSchema schema)
    {
        public TableSchema Schema { get; set; } = schema;
        public Dictionary<string, string?[]> Rows { get; } = new();
        public bool Frozen { get; set; }
    }

    public sealed record AppliedTransaction(uint Xid, Lsn CommitLsn, int Count, IReadOnlyList<ChangeKind> Kinds);

    public List<AppliedTransaction> Transactions { get; } = new();
    public int SnapshotsBegun { get; private set; }
    /// <summary>Tables loaded beside the stream, in the order they replaced what was held.</summary>
    public List<string> Loaded { get; } = new();

    public Lsn AppliedLsn => new((ulong)Interlocked.Read(ref _applied));
    public Lsn SafeToConfirmLsn { get; private set; }

    public void BeginSnapshot(IReadOnlyList<PublicationSchema> publications, Lsn? replayFrom = null)
    {
        lock (_lock)
        {
            SnapshotsBegun++;
            _tables.Clear();
            _loads.Clear();
            foreach (var t in publications.SelectMany(p => p.Tables)) _tables[t.RelationId] = new TableData(t);
            Interlocked.Exchange(ref _applied, 0);
        }
    }

    public void LoadSnapshotRows(TableSchema table, IReadOnlyList<byte[]> rows)
    {
        lock (_lock) AddRows(_tables[table.RelationId], table, rows);
    }

    private static void AddRows(TableData data, TableSchema table, IReadOnlyList<byte[]> rows)
    {
        foreach (var row in rows)
        {
            var values = Values(new RowView(row), table, null);
            var key = CacheKey.RowKeyString(new RowView(row), table);
            if (!data.Rows.TryAdd(key, values)) throw new InvalidOperationException($"snapshot copied {table}.{key} twice");
        }
    }

    public void CompleteSnapshot(Lsn consistentPoint)
    {
        Interlocked.Exchange(ref _applied, (long)consistentPoint.Value);
        SafeToConfirmLsn = consistentPoint;
    }

    public ITableLoad BeginTableLoad(TableSchema schema, IReadOnlyList<string> publications)
    {
        lock (_lock) return _loads[schema.RelationId] = new Load(this, schema);
    }

    private sealed class Load(RecordingTarget owner, TableSchema schema) : ITableLoad
    {
        public TableSchema Schema { get; } = schema;
        public TableData Shadow { get; } = new(schema);

        public void LoadSnapshotRows(TableSchema table, IReadOnlyList<byte[]> rows)
        {
            lock (owner._lock) AddRows(Shadow, table, rows);
        }

        public void ApplyTail(Transaction transaction)
        {
            lock (owner._lock)
                foreach (var change in transaction.Changes) ApplyTo(Shadow, change);
        }

        public void Abandon()
        {
            lock (owner._lock)
                if (owner._loads.TryGetValue(Schema.RelationId, out var current) && current == this) owner._loads.Remove(Schema.RelationId);
        }
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

    public bool Holds(string name)
    {
        lock (_lock) return _tables.Values.Any(t => t.Schema.TableName == name);
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
        if (change.Kind == ChangeKind.Load)
        {
            if (_loads.Remove(schema.RelationId, out var load))
            {
                _tables[schema.RelationId] = load.Shadow;
                Loaded.Add(schema.TableName);
            }
            return;
        }
        if (!_tables.TryGetValue(schema.RelationId, out var data)) return;   // not held: a load brings it
        if (change.Kind == ChangeKind.Unpublish)
        {
            _tables.Remove(schema.RelationId);
            return;
        }
        if (data.Frozen) return;
        if (change.Kind == ChangeKind.Relation && !data.Schema.IsRowCompatibleWith(schema))
        {
            data.Frozen = true;
            return;
        }
        ApplyTo(data, change);
    }

    private static void ApplyTo(TableData data, RowChange change)
    {
        var schema = change.Table;
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
                data.Schema = schema;
                break;
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
