using Pgrelay.Core.Model;
using Pgrelay.Core.Rows;

namespace Pgrelay.Store;

/// <summary>
/// Rewrites rows from one schema to the next after an ALTER TABLE. pgoutput's relation message names
/// columns but gives no attribute numbers, so a rename is recognised when the column count and types
/// line up position by position and only names differ; otherwise columns are matched by name. Added
/// columns take the value the relation change supplies (PostgreSQL's missing value for a constant
/// default) or NULL. Public so that sinks mirroring a table (ALTER TABLE on a target) map columns the way the store does.
/// </summary>
public sealed class SchemaRemapper
{
    private readonly int[] _sourceOf;   // per new column: index in the old schema, or -1
    private readonly RowView? _defaults;

    public SchemaRemapper(TableSchema from, TableSchema to, byte[]? defaults)
    {
        _defaults = defaults is null ? null : new RowView(defaults);
        _sourceOf = new int[to.Columns.Count];
        bool positional = from.Columns.Count == to.Columns.Count &&
            from.Columns.Zip(to.Columns).All(p => p.First.TypeOid == p.Second.TypeOid);
        for (int i = 0; i < to.Columns.Count; i++)
            _sourceOf[i] = positional ? i : from.ColumnIndex(to.Columns[i].Name);
    }

    /// <summary>The old column a new column takes its values from, or -1 (an added column).</summary>
    public int SourceOf(int column) => _sourceOf[column];

    public bool IsIdentity(TableSchema from, TableSchema to) =>
        from.Columns.Count == to.Columns.Count && _sourceOf.Select((s, i) => s == i).All(x => x);

    public byte[] Rewrite(byte[] row, RowBuilder builder)
    {
        var view = new RowView(row);
        for (int i = 0; i < _sourceOf.Length; i++)
        {
            int source = _sourceOf[i];
            if (source >= 0 && source < view.ColumnCount) builder.AddFrom(view, source);
            else if (_defaults is { } d && i < d.ColumnCount && d.State(i) == ColumnState.Value) builder.AddValue(d.Value(i));
            else builder.AddNull();
        }
        return builder.Build();
    }
}
