namespace Pgrelay.Differential.Tests;

/// <summary>The column types the generator writes; every one renders differently somewhere (text, JSON, arrays, TOAST).</summary>
public enum ColumnType { Int4, Int8, Numeric, Numeric12_2, Float8, Text, Bool, Jsonb, Int4Array, TextArray, Timestamptz, Date, Bytea, Uuid, Toasted }

/// <summary>How a table is keyed.</summary>
public enum KeyShape { Int, Text, Composite, None }

public sealed record ColumnModel(string Name, ColumnType Type)
{
    public string Quoted => "\"" + Name.Replace("\"", "\"\"") + "\"";

    public string SqlType => Type switch
    {
        ColumnType.Int4 => "int4",
        ColumnType.Int8 => "int8",
        ColumnType.Numeric => "numeric",
        ColumnType.Numeric12_2 => "numeric(12,2)",
        ColumnType.Float8 => "float8",
        ColumnType.Text or ColumnType.Toasted => "text",
        ColumnType.Bool => "bool",
        ColumnType.Jsonb => "jsonb",
        ColumnType.Int4Array => "int4[]",
        ColumnType.TextArray => "text[]",
        ColumnType.Timestamptz => "timestamptz",
        ColumnType.Date => "date",
        ColumnType.Bytea => "bytea",
        ColumnType.Uuid => "uuid",
        _ => throw new ArgumentOutOfRangeException(nameof(Type)),
    };
}

/// <summary>
/// What the generator believes a table looks like. Only a guide for writing statements: the comparison reads the truth
/// (columns, keys, what is published) from PostgreSQL's catalogs, so a stale belief costs a failed transaction, never a
/// false divergence.
/// </summary>
public sealed record TableModel(string Name, KeyShape Key, IReadOnlyList<ColumnModel> Payload, bool Published)
{
    public string Quoted => "\"" + Name + "\"";

    public IEnumerable<string> KeyColumnNames => Key switch
    {
        KeyShape.Int => ["id"],
        KeyShape.Text => ["k"],
        KeyShape.Composite => ["region", "code"],
        _ => [],
    };
}

/// <summary>The tables as the generator believes them; changed only after a DDL or publication change commits.</summary>
public sealed class SchemaModel
{
    private readonly object _lock = new();
    private readonly List<TableModel> _tables = new();
    private int _nextColumn = 1000;

    public IReadOnlyList<TableModel> Tables { get { lock (_lock) return _tables.ToList(); } }

    public void Add(TableModel table) { lock (_lock) _tables.Add(table); }

    public void Replace(string name, Func<TableModel, TableModel> change)
    {
        lock (_lock)
        {
            int i = _tables.FindIndex(t => t.Name == name);
            if (i >= 0) _tables[i] = change(_tables[i]);
        }
    }

    public string NewColumnName() => "c" + Interlocked.Increment(ref _nextColumn);
}
