using Pgrelay.Core.Rows;
using Pgrelay.Sinks.Events;

namespace Pgrelay.Sinks.Targets;

/// <summary>
/// Finds the old key of replayed changes to a table whose replica identity is an index on other columns than the primary
/// key. PostgreSQL then sends the old identity columns (when they changed, and for a delete) or no old row at all (when
/// they did not), never the old primary key, so such an event cannot name the row a mirroring target holds under its key
/// (a delete, an update that moved the key). The target can: it holds the rows with their identity columns, and
/// identity → key is one-to-one (a unique index). A target reads that map for the identities a batch needs
/// (<see cref="Needed"/>), and <see cref="Resolve"/> follows the batch's changes in order (one change may take the identity
/// another gave up), giving each such event an old row with the key columns of the row it names.
/// </summary>
internal sealed class IdentityKeys
{
    private readonly int[] _identity;
    private readonly int[] _keys;
    /// <summary>Identity → key parts (texts in key order) as of the change being resolved; null: no row has it.</summary>
    private readonly Dictionary<string, string[]?> _keyOf = new(StringComparer.Ordinal);

    private IdentityKeys(int[] identity, int[] keys)
    {
        _identity = identity;
        _keys = keys;
    }

    /// <summary>The table's identity columns in the sink's layout (key order of the identity index), or null when the
    /// table needs no resolution (its identity covers the key, it has no key, or a rule dropped an identity column).</summary>
    public static int[]? IdentityColumns(SinkTable table)
    {
        var source = table.SourceSchema;
        if (table.IsMultiset || source.OldRowCarriesKey || source.IdentityColumns.Length == 0) return null;
        var columns = new int[source.IdentityColumns.Length];
        for (int i = 0; i < columns.Length; i++)
        {
            int at = -1;
            for (int c = 0; c < table.Columns.Count; c++)
                if (table.Columns[c].Source == source.IdentityColumns[i]) at = c;
            if (at < 0) return null;
            columns[i] = at;
        }
        return columns;
    }

    /// <summary>For a table whose replayed changes may need their old key found; null otherwise.</summary>
    public static IdentityKeys? For(SinkTable table) => IdentityColumns(table) is { } identity ? new IdentityKeys(identity, table.KeyColumns) : null;

    public int[] Columns => _identity;

    /// <summary>The identity a replayed event names its old row by, when the event lacks the old key; else null.</summary>
    public string? Needed(ChangeEvent e)
    {
        if (!e.Replayed) return null;
        return e.Op switch
        {
            EventOp.Delete when e.Before is { } before && e.KeyOf(before) is null => IdentityOf(before),
            EventOp.Update when e.Before is null && e.After is { } after => IdentityOf(after),   // the identity did not change
            EventOp.Update when e.Before is { } before && e.KeyOf(before) is null => IdentityOf(before),
            _ => null,
        };
    }

    /// <summary>What the target holds for an identity before the batch (read by the target for every <see cref="Needed"/> one).</summary>
    public void Known(string identity, string[]? key) => _keyOf.TryAdd(identity, key);

    /// <summary>
    /// The event with the old key the target holds the row under filled into its old row (other unknown values stay
    /// unknown), or the event itself; follows what the event does to the identities either way.
    /// </summary>
    public ChangeEvent Resolve(ChangeEvent e)
    {
        if (e.Op == EventOp.Truncate)
        {
            foreach (var identity in _keyOf.Keys.ToList()) _keyOf[identity] = null;
            return e;
        }
        var resolved = e;
        if (Needed(e) is { } named && _keyOf.GetValueOrDefault(named) is { } parts
            && !(e.Before is null && parts.SequenceEqual(KeyParts(e.After!)!)))   // an update that kept its key needs nothing
        {
            var before = e.Before is { } b ? (SinkValue[])b.Clone() : Unknown(e.After!.Length);
            for (int j = 0; j < _keys.Length; j++) before[_keys[j]] = new SinkValue(ColumnState.Value, System.Text.Encoding.UTF8.GetBytes(parts[j]));
            resolved = e.WithBefore(before);
        }
        if (e.Before is { } old && IdentityOf(old) is { } gone) _keyOf[gone] = null;
        if (e.After is { } row && IdentityOf(row) is { } taken) _keyOf[taken] = KeyParts(row);
        return resolved;
    }

    private static SinkValue[] Unknown(int length)
    {
        var row = new SinkValue[length];
        Array.Fill(row, SinkValue.Unknown);
        return row;
    }

    /// <summary>The identity columns' texts joined with NUL (which no text value contains); null when one is unknown.</summary>
    public string? IdentityOf(SinkValue[] row)
    {
        var parts = new string[_identity.Length];
        for (int i = 0; i < parts.Length; i++)
        {
            if (row[_identity[i]].Text is not { } text) return null;   // unknown (or NULL, which a replica identity index excludes)
            parts[i] = text;
        }
        return string.Join('\0', parts);
    }

    private string[]? KeyParts(SinkValue[] row)
    {
        var parts = new string[_keys.Length];
        for (int i = 0; i < parts.Length; i++)
        {
            if (row[_keys[i]].Text is not { } text) return null;
            parts[i] = text;
        }
        return parts;
    }
}
