using Pgrelay.Core.Model;

namespace Pgrelay.Store.Tables;

/// <summary>
/// The schemas a table has had, by the LSN they took effect. Rows are encoded for the schema in force
/// at their commit LSN, so a reader decoding an older version after an ALTER TABLE picks the older schema.
/// </summary>
internal sealed class SchemaHistory
{
    private (ulong From, TableSchema Schema)[] _entries;

    public SchemaHistory(TableSchema initial) => _entries = [(0, initial)];

    public TableSchema Current => _entries[^1].Schema;

    public TableSchema For(ulong lsn)
    {
        var entries = Volatile.Read(ref _entries);
        for (int i = entries.Length - 1; i > 0; i--)
            if (entries[i].From <= lsn) return entries[i].Schema;
        return entries[0].Schema;
    }

    /// <summary>Writer only. In-flight rows (LSN above the visible one) already use the new schema.</summary>
    public void Add(ulong from, TableSchema schema)
    {
        var entries = _entries;
        Volatile.Write(ref _entries, [.. entries, (from, schema)]);
    }

    /// <summary>Writer only: forget schemas no reader can need (all rows older than horizon were rewritten).</summary>
    public void Trim(ulong horizon)
    {
        var entries = _entries;
        int keepFrom = 0;
        for (int i = 1; i < entries.Length; i++)
            if (entries[i].From <= horizon) keepFrom = i;
        if (keepFrom > 0) Volatile.Write(ref _entries, entries[keepFrom..]);
    }
}
