using Pgrelay.Core.Model;
using Pgrelay.Core.Rows;

namespace Pgrelay.Store.Tables;

/// <summary>
/// The schemas a table has had, by the LSN they took effect, each with a shape number that row versions carry in their
/// header (<see cref="RowFormat.ShapeOffset"/>). A row names the schema it was encoded for by that number, not by its
/// LSN: an ALTER TABLE's transaction holds both the tombstones of the old rows (old shape, since they keep the old key)
/// and the rewritten rows (new shape), all at one LSN, and a reader or the writer must read each with its own schema.
/// </summary>
internal sealed class SchemaHistory
{
    private (ulong From, TableSchema Schema, byte Shape)[] _entries;

    public SchemaHistory(TableSchema initial) => _entries = [(0, initial, 0)];

    public TableSchema Current => _entries[^1].Schema;

    /// <summary>The schema <paramref name="row"/> was encoded for. Shape numbers wrap at 256, so among equal numbers the
    /// newest schema in force at the row's LSN is the one.</summary>
    public TableSchema For(byte[] row) => For(RowFormat.ReadShape(row), RowFormat.ReadLsn(row));

    /// <summary>The schema of a version with this shape number and LSN.</summary>
    public TableSchema For(byte shape, ulong lsn)
    {
        var entries = Volatile.Read(ref _entries);
        for (int i = entries.Length - 1; i >= 0; i--)
            if (entries[i].Shape == shape && (entries[i].From <= lsn || i == 0)) return entries[i].Schema;
        return entries[^1].Schema;
    }

    /// <summary>The shape number rows encoded for <paramref name="schema"/> carry (the current one for a schema not in
    /// the history: an equal shape announced again).</summary>
    public byte ShapeOf(TableSchema schema)
    {
        var entries = _entries;
        for (int i = entries.Length - 1; i >= 0; i--)
            if (ReferenceEquals(entries[i].Schema, schema)) return entries[i].Shape;
        return entries[^1].Shape;
    }

    /// <summary>Writer only. In-flight rows (LSN above the visible one) already use the new schema.</summary>
    public void Add(ulong from, TableSchema schema)
    {
        var entries = _entries;
        Volatile.Write(ref _entries, [.. entries, (from, schema, unchecked((byte)(entries[^1].Shape + 1)))]);
    }
}
