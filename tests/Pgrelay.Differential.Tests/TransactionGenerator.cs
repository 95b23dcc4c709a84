using System.Globalization;
using System.Text;

namespace Pgrelay.Differential.Tests;

/// <summary>One unit of work for a worker: SQL to run, and what the model learns if it commits.</summary>
public sealed record WorkItem(string Sql, bool InTransaction, Action<SchemaModel>? OnSuccess = null, string Kind = "dml")
{
    /// <summary>End the transaction with ROLLBACK: nothing of it may reach any reader.</summary>
    public bool Rollback { get; init; }
}

/// <summary>
/// Writes random transactions against the model's tables from one seeded <see cref="Random"/> per worker, so a seed
/// names the same statements every time (the interleaving of workers is up to the machine).
/// </summary>
public sealed class TransactionGenerator(Random rng, Switches switches, SchemaModel model)
{
    private readonly Literals _values = new(rng, switches.SlashKeys, switches.BcDates);

    public WorkItem Next()
    {
        var item = Choose(model.Tables);
        // Some DDL and publication changes roll back too: their Relation messages arrive in a transaction that never commits.
        return item.Kind is "ddl" or "publication" && item.InTransaction && rng.Next(10) == 0 ? item with { Rollback = true } : item;
    }

    /// <summary>A DDL (or, with DDL off, a publication change) now: a kill -9 right after one is one of Kill9's moments.</summary>
    public WorkItem NextDdl()
    {
        var keyed = model.Tables.Where(t => t.Key != KeyShape.None).ToList();
        if (switches.Ddl && keyed.Count > 0) return Ddl(Pick(keyed));
        return switches.PublicationChanges && model.Tables.Count > 0 ? PublicationChange(Pick(model.Tables)) : Next();
    }

    /// <summary>A big (streamed) transaction now: a kill -9 while one is sent is one of Kill9's moments.</summary>
    public WorkItem NextBig() => switches.BigTransactions && model.Tables.Count > 0 ? Big(Pick(model.Tables)) : Next();

    private WorkItem Choose(IReadOnlyList<TableModel> tables)
    {
        // Bands of one roll, so turning a switch off does not hand its share to another kind.
        double roll = rng.NextDouble();
        if (roll < 0.04) { if (switches.Ddl) return Ddl(Pick(tables.Where(t => t.Key != KeyShape.None).ToList())); }
        else if (roll < 0.06) { if (switches.PublicationChanges) return PublicationChange(Pick(tables)); }
        else if (roll < 0.07) { if (switches.Truncate) return new($"TRUNCATE {Pick(tables).Quoted}", InTransaction: true, Kind: "truncate"); }
        else if (roll < 0.12) { if (switches.BigTransactions) return Big(Pick(tables)); }

        var sql = new StringBuilder();
        int statements = rng.Next(1, 8);
        bool savepoint = rng.Next(8) == 0;
        for (int i = 0; i < statements; i++)
        {
            if (savepoint && i == statements / 2) sql.Append("SAVEPOINT sp;\n");
            sql.Append(Statement(Pick(tables))).Append(";\n");
        }
        if (savepoint) sql.Append(rng.Next(2) == 0 ? "ROLLBACK TO SAVEPOINT sp;\n" : "RELEASE SAVEPOINT sp;\n");
        return new(sql.ToString(), InTransaction: true) { Rollback = rng.Next(10) == 0 };
    }

    /// <summary>Rows the tables start with, before pgrelay exists.</summary>
    public IEnumerable<string> Seed(TableModel table, int rows)
    {
        for (int i = 0; i < rows; i++) yield return Insert(table);
    }

    public static string CreateTable(TableModel table)
    {
        var columns = new List<string>();
        columns.AddRange(table.Key switch
        {
            KeyShape.Int => ["id int4 NOT NULL"],
            KeyShape.Text => ["k text NOT NULL"],
            KeyShape.Composite => ["region text NOT NULL", "code text NOT NULL"],
            _ => [],
        });
        columns.AddRange(table.Payload.Select(c => $"{c.Quoted} {c.SqlType}"));
        if (table.Key != KeyShape.None) columns.Add($"PRIMARY KEY ({string.Join(", ", table.KeyColumnNames)})");
        var sql = new StringBuilder($"CREATE TABLE {table.Quoted} ({string.Join(", ", columns)});\n");
        foreach (var toasted in table.Payload.Where(c => c.Type == ColumnType.Toasted))
            sql.Append($"ALTER TABLE {table.Quoted} ALTER COLUMN {toasted.Quoted} SET STORAGE EXTERNAL;\n");
        if (table.Key == KeyShape.None) sql.Append($"ALTER TABLE {table.Quoted} REPLICA IDENTITY FULL;\n");
        return sql.ToString();
    }

    private string Statement(TableModel table)
    {
        if (table.Key == KeyShape.None) return NoKeyStatement(table);
        int roll = rng.Next(100);
        if (roll < 35) return Insert(table);
        if (roll < 75) return Update(table);
        if (roll < 88 || !switches.KeyChanges) return $"DELETE FROM {table.Quoted} WHERE {KeyMatch(table)}";
        return KeyChange(table);
    }

    private string Insert(TableModel table)
    {
        var (names, values) = KeyValues(table);
        foreach (var c in table.Payload)
        {
            names.Add(c.Quoted);
            values.Add(_values.For(c.Type));
        }
        var conflict = table.Key == KeyShape.None ? "" : " ON CONFLICT DO NOTHING";
        return $"INSERT INTO {table.Quoted} ({string.Join(", ", names)}) VALUES ({string.Join(", ", values)}){conflict}";
    }

    private string Update(TableModel table)
    {
        // A subset of the columns: an update that leaves a TOASTed column alone sends it as "unchanged".
        var set = table.Payload.Where(_ => rng.Next(3) == 0).ToList();
        if (set.Count == 0 && table.Payload.Count > 0) set.Add(Pick(table.Payload.ToList()));
        if (set.Count == 0) return $"UPDATE {table.Quoted} SET {table.KeyColumnNames.First()} = {table.KeyColumnNames.First()} WHERE {KeyMatch(table)}";
        var assignments = string.Join(", ", set.Select(c => $"{c.Quoted} = {_values.For(c.Type)}"));
        var where = rng.Next(10) == 0 && table.Key == KeyShape.Int
            ? $"id BETWEEN {_values.IntKey()} AND {_values.IntKey() + 10}"
            : KeyMatch(table);
        return $"UPDATE {table.Quoted} SET {assignments} WHERE {where}";
    }

    /// <summary>Moves a row to a free key; guarded so the statement cannot fail on a key another row holds.</summary>
    private string KeyChange(TableModel table)
    {
        var (names, values) = KeyValues(table);
        var free = string.Join(" AND ", names.Zip(values, (n, v) => $"{n} = {v}"));
        var set = string.Join(", ", names.Zip(values, (n, v) => $"{n} = {v}"));
        return $"UPDATE {table.Quoted} SET {set} WHERE {KeyMatch(table)} AND NOT EXISTS (SELECT 1 FROM {table.Quoted} WHERE {free})";
    }

    private string NoKeyStatement(TableModel table)
    {
        // Few distinct values, so duplicate rows are common; one duplicate is changed or deleted by ctid.
        var first = table.Payload[0];
        var match = $"{first.Quoted} IS NOT DISTINCT FROM {_values.For(first.Type, 0.3)}";
        int roll = rng.Next(100);
        if (roll < 45) return Insert(table);
        var one = $"ctid = (SELECT ctid FROM {table.Quoted} WHERE {match} LIMIT 1)";
        if (roll < 75)
        {
            var c = Pick(table.Payload.ToList());
            return $"UPDATE {table.Quoted} SET {c.Quoted} = {_values.For(c.Type)} WHERE {one}";
        }
        return $"DELETE FROM {table.Quoted} WHERE {one}";
    }

    private WorkItem Big(TableModel table)
    {
        int from = rng.Next(100_000, 900_000), count = rng.Next(1500, 4000);
        var (keyNames, keyValues) = table.Key switch
        {
            KeyShape.Int => (new[] { "id" }, new[] { "g" }),
            KeyShape.Text => (["k"], ["'big ' || g"]),
            KeyShape.Composite => (["region", "code"], ["'big'", "g::text"]),
            _ => (Array.Empty<string>(), Array.Empty<string>()),
        };
        var names = keyNames.ToList();
        var values = keyValues.ToList();
        foreach (var c in table.Payload.Where(c => c.Type is ColumnType.Text or ColumnType.Int4 or ColumnType.Int8))
        {
            names.Add(c.Quoted);
            values.Add(c.Type == ColumnType.Text ? "repeat('x', 60) || g" : "g");
        }
        var conflict = table.Key == KeyShape.None ? "" : " ON CONFLICT DO NOTHING";
        var insert = names.Count == 0
            ? $"INSERT INTO {table.Quoted} SELECT FROM generate_series({from}, {from + count}) g"
            : $"INSERT INTO {table.Quoted} ({string.Join(", ", names)}) SELECT {string.Join(", ", values)} FROM generate_series({from}, {from + count}) g{conflict}";
        var sql = new StringBuilder();
        int shape = rng.Next(4);
        if (shape == 0) sql.Append("SAVEPOINT big;\n").Append(insert).Append(";\nROLLBACK TO SAVEPOINT big;\n").Append(Statement(table)).Append(";\n");
        else sql.Append(insert).Append(";\n").Append(Statement(table)).Append(";\n");
        // shape 1: the whole streamed transaction aborts.
        return new(sql.ToString(), InTransaction: true, Kind: "big") { Rollback = shape == 1 };
    }

    private WorkItem Ddl(TableModel table)
    {
        var payload = table.Payload.ToList();
        int roll = rng.Next(9);
        var name = model.NewColumnName();
        switch (roll)
        {
            case 0:
            case 1:
            {
                var type = Pick(Enum.GetValues<ColumnType>().Where(t => t != ColumnType.Toasted).ToList());
                var column = new ColumnModel(name, type);
                var deflt = roll == 1 ? " DEFAULT " + _values.For(type, 0) : "";
                return new($"ALTER TABLE {table.Quoted} ADD COLUMN {column.Quoted} {column.SqlType}{deflt}", true,
                    m => m.Replace(table.Name, t => t with { Payload = [.. t.Payload, column] }), "ddl");
            }
            case 2:
                return new($"ALTER TABLE {table.Quoted} ADD COLUMN {name} int4 DEFAULT (random() * 1000)::int4", true,
                    m => m.Replace(table.Name, t => t with { Payload = [.. t.Payload, new ColumnModel(name, ColumnType.Int4)] }), "ddl");
            case 3:
                return new($"ALTER TABLE {table.Quoted} ADD COLUMN {name} serial", true,
                    m => m.Replace(table.Name, t => t with { Payload = [.. t.Payload, new ColumnModel(name, ColumnType.Int4)] }), "ddl");
            case 4 when payload.Count > 1:
            {
                var drop = Pick(payload);
                return new($"ALTER TABLE {table.Quoted} DROP COLUMN {drop.Quoted}", true,
                    m => m.Replace(table.Name, t => t with { Payload = t.Payload.Where(c => c.Name != drop.Name).ToList() }), "ddl");
            }
            case 5 when payload.Count > 0:
            {
                var old = Pick(payload);
                return new($"ALTER TABLE {table.Quoted} RENAME COLUMN {old.Quoted} TO {name}", true,
                    m => m.Replace(table.Name, t => t with { Payload = t.Payload.Select(c => c.Name == old.Name ? c with { Name = name } : c).ToList() }), "ddl");
            }
            case 6 when payload.Any(c => c.Type is ColumnType.Int4 or ColumnType.Numeric):
            {
                var retype = Pick(payload.Where(c => c.Type is ColumnType.Int4 or ColumnType.Numeric).ToList());
                var to = retype.Type == ColumnType.Int4 ? ColumnType.Int8 : ColumnType.Numeric12_2;
                var target = new ColumnModel(retype.Name, to);
                // numeric -> numeric(12,2) rewrites every row with rounded values; out-of-range values make it fail, which is fine.
                return new($"ALTER TABLE {table.Quoted} ALTER COLUMN {retype.Quoted} TYPE {target.SqlType}", true,
                    m => m.Replace(table.Name, t => t with { Payload = t.Payload.Select(c => c.Name == retype.Name ? target : c).ToList() }), "ddl");
            }
            case 7:
                return new($"VACUUM FULL {table.Quoted}", InTransaction: false, Kind: "ddl");
            default:
                return new($"UPDATE {table.Quoted} SET {table.KeyColumnNames.First()} = {table.KeyColumnNames.First()} WHERE {KeyMatch(table)}", true);
        }
    }

    private WorkItem PublicationChange(TableModel table) => table.Published
        ? new($"ALTER PUBLICATION pub DROP TABLE {table.Quoted}", true, m => m.Replace(table.Name, t => t with { Published = false }), "publication")
        : new($"ALTER PUBLICATION pub ADD TABLE {table.Quoted}", true, m => m.Replace(table.Name, t => t with { Published = true }), "publication");

    private (List<string> Names, List<string> Values) KeyValues(TableModel table)
    {
        switch (table.Key)
        {
            case KeyShape.Int: return (["id"], [_values.IntKey().ToString(CultureInfo.InvariantCulture)]);
            case KeyShape.Text: return (["k"], [Literals.Quote(_values.TextKey())]);
            case KeyShape.Composite:
                var (region, code) = _values.CompositeKey();
                return (["region", "code"], [Literals.Quote(region), Literals.Quote(code)]);
            default: return ([], []);
        }
    }

    private string KeyMatch(TableModel table)
    {
        var (names, values) = KeyValues(table);
        return string.Join(" AND ", names.Zip(values, (n, v) => $"{n} = {v}"));
    }

    private T Pick<T>(IReadOnlyList<T> items) => items[rng.Next(items.Count)];
}
