using Pgrelay.Core.Rows;
using Pgrelay.Sinks.Events;

namespace Pgrelay.Sinks.Targets;

/// <summary>
/// The net effect of a run of events on one keyed table, per key: the last image wins, a delete wins over what came
/// before it. Valid because the whole batch commits in one target transaction, so nobody sees the steps in between; it
/// turns a hot row updated a thousand times into one write. Every row it holds is complete: values a partial (replayed)
/// image lacks are carried over from the old row, as the batch left it or as the target holds it
/// (<see cref="TargetRow"/>), or, when there is no old row, taken from <see cref="ChangeEvent.Current"/>.
/// </summary>
internal sealed class PendingRows(SinkTable table)
{
    private readonly Dictionary<string, SinkValue[]?> _rows = new(StringComparer.Ordinal);   // null: delete

    public SinkTable Table { get; } = table;
    public int Count => _rows.Count;
    public IEnumerable<KeyValuePair<string, SinkValue[]?>> Rows => _rows;

    /// <summary>The row the target holds under a key before this batch (null: none), for keys of partial events.</summary>
    public Func<string, SinkValue[]?>? TargetRow { get; set; }

    public async ValueTask AddAsync(ChangeEvent e, CancellationToken ct)
    {
        switch (e.Op)
        {
            case EventOp.Delete when e.Before is { } before:
                if (KeyOf(before) is { } deleted) _rows[deleted] = null;
                break;
            case EventOp.Insert or EventOp.Read or EventOp.Update when e.After is { } after:
                var key = KeyOf(after);
                if (key is null) return;
                string? oldKey = e.Op == EventOp.Update && e.Before is { } old && KeyOf(old) is { } k && k != key ? k : null;
                // A key change carries the row's other values over from the old key (with partial images, the only place
                // they are), whatever the new key held; otherwise the values are the key's own.
                if (SinkValue.AnyUnknown(after)) after = await CompleteAsync(after, OldRow(oldKey ?? key), e.Current, ct).ConfigureAwait(false);
                if (oldKey is not null) _rows[oldKey] = null;
                _rows[key] = after;
                break;
        }
    }

    /// <summary>A row as an insert (a load's rows when they cannot be copied in).</summary>
    public void Add(SinkValue[] row)
    {
        if (KeyOf(row) is { } key) _rows[key] = row;
    }

    /// <summary>The keys whose rows the target must supply for this event (<see cref="TargetRow"/>): none unless it lacks values.</summary>
    public IEnumerable<string> KeysNeeded(ChangeEvent e)
    {
        if (e.Op is not (EventOp.Insert or EventOp.Update) || e.After is not { } after || !SinkValue.AnyUnknown(after)) yield break;
        if (e.Op == EventOp.Update && e.Before is { } old && KeyOf(old) is { } oldKey) yield return oldKey;
        if (KeyOf(after) is { } key) yield return key;
    }

    /// <summary>The old row as of this point of the batch: what the batch did to the key, else what the target holds.</summary>
    private SinkValue[]? OldRow(string key) => _rows.TryGetValue(key, out var row) ? row : TargetRow?.Invoke(key);

    private static async ValueTask<SinkValue[]> CompleteAsync(SinkValue[] after, SinkValue[]? old, Func<CancellationToken, Task<SinkValue[]?>>? current,
        CancellationToken ct)
    {
        var complete = (SinkValue[])after.Clone();
        SinkValue[]? fallback = null;
        bool looked = false;
        for (int i = 0; i < complete.Length; i++)
        {
            if (!complete[i].IsUnknown) continue;
            if (old is not null && i < old.Length && !old[i].IsUnknown)
            {
                complete[i] = old[i];
                continue;
            }
            // No old row to carry the value from (it was outside a filter, say): the store's current value. If the row
            // changes again, that change follows in the feed; NULL only when the store no longer has the row at all, and
            // then a later event removes it from the target too.
            if (!looked)
            {
                fallback = current is null ? null : await current(ct).ConfigureAwait(false);
                looked = true;
            }
            complete[i] = fallback is not null && i < fallback.Length && !fallback[i].IsUnknown ? fallback[i] : SinkValue.Null;
        }
        return complete;
    }

    /// <summary>Key column values joined with NUL, which no PostgreSQL text value contains: unambiguous for composite keys.</summary>
    public string? KeyOf(SinkValue[] row)
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

    public static bool IsComplete(SinkValue[] row) => !SinkValue.AnyUnknown(row);
}
