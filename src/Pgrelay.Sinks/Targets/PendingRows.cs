using Pgrelay.Core.Rows;
using Pgrelay.Sinks.Events;

namespace Pgrelay.Sinks.Targets;

/// <summary>
/// The net effect of a run of events on one table, per key: the last image wins, a delete wins over what came before
/// it. Valid because the whole batch commits in one target transaction, so nobody sees the steps in between; it
/// turns a hot row updated a thousand times into one write.
/// </summary>
internal sealed class PendingRows(SinkTable table)
{
    private readonly Dictionary<string, SinkValue[]?> _rows = new(StringComparer.Ordinal);   // null: delete

    public SinkTable Table { get; } = table;
    public int Count => _rows.Count;
    public IEnumerable<KeyValuePair<string, SinkValue[]?>> Rows => _rows;

    public void Add(ChangeEvent e)
    {
        switch (e.Op)
        {
            case EventOp.Delete when e.Before is { } before:
                if (KeyOf(before) is { } deleted) _rows[deleted] = null;
                break;
            case EventOp.Insert or EventOp.Read or EventOp.Update when e.After is { } after:
                var key = KeyOf(after);
                if (key is null) return;
                if (e.Op == EventOp.Update && e.Before is { } old && KeyOf(old) is { } oldKey && oldKey != key) _rows[oldKey] = null;
                Put(key, after);
                break;
        }
    }

    /// <summary>A row as an insert (a load's rows when they cannot be copied in).</summary>
    public void Add(SinkValue[] row)
    {
        if (KeyOf(row) is { } key) Put(key, row);
    }

    private void Put(string key, SinkValue[] after) =>
        _rows[key] = _rows.TryGetValue(key, out var previous) && previous is not null ? Merge(after, previous) : after;

    public void Clear() => _rows.Clear();

    /// <summary>Columns a replayed UPDATE left unchanged (TOAST) take the value an earlier event of this batch gave them.</summary>
    private static SinkValue[] Merge(SinkValue[] after, SinkValue[] previous)
    {
        SinkValue[]? merged = null;
        for (int i = 0; i < after.Length; i++)
        {
            if (after[i].State != ColumnState.Unchanged || i >= previous.Length || previous[i].State == ColumnState.Unchanged) continue;
            merged ??= (SinkValue[])after.Clone();
            merged[i] = previous[i];
        }
        return merged ?? after;
    }

    /// <summary>Key column values joined with NUL, which no PostgreSQL text value contains: unambiguous for composite keys.</summary>
    private string? KeyOf(SinkValue[] row)
    {
        var keys = Table.KeyColumns;
        if (keys.Length == 1) return row[keys[0]].State == ColumnState.Value ? row[keys[0]].Text : null;
        var parts = new string[keys.Length];
        for (int i = 0; i < keys.Length; i++)
        {
            if (row[keys[i]].State != ColumnState.Value) return null;
            parts[i] = row[keys[i]].Text!;
        }
        return string.Join('\0', parts);
    }

    public static bool IsComplete(SinkValue[] row)
    {
        foreach (var v in row)
            if (v.State == ColumnState.Unchanged) return false;
        return true;
    }
}
