using System.Text;
using Pgrelay.Core.Keys;
using Pgrelay.Core.Model;
using Pgrelay.Core.Rows;
using Pgrelay.Store.Tables;

namespace Pgrelay.Sinks.Events;

public enum EventOp : byte
{
    Insert = (byte)'c',
    Update = (byte)'u',
    Delete = (byte)'d',
    Truncate = (byte)'t',
    /// <summary>A row of the initial load (a snapshot read).</summary>
    Read = (byte)'r',
    Begin = (byte)'B',
    Commit = (byte)'C',
    /// <summary>
    /// The table changed shape (ALTER TABLE): <see cref="ChangeEvent.Table"/> is the new layout,
    /// <see cref="ChangeEvent.PreviousTable"/> the old one when known. The rows' values in the new shape follow as the
    /// store's reload of the table (live) or come from the store (replayed). Only for targets that mirror tables (<see cref="Targets.ISinkTarget.WantsSchemaChanges"/>).
    /// </summary>
    Relation = (byte)'R',
}

/// <summary>A column as a sink sees it: after rules renamed it or changed its type (a masked number is text).</summary>
public sealed class SinkColumn(string name, uint typeOid, int typeModifier, PgTypeKind kind, PgTypeKind elementKind, bool isKey, int source)
{
    public string Name { get; } = name;
    public byte[] Utf8Name { get; } = System.Text.Encoding.UTF8.GetBytes(name);
    public uint TypeOid { get; } = typeOid;
    public int TypeModifier { get; } = typeModifier;
    public PgTypeKind Kind { get; } = kind;
    public PgTypeKind ElementKind { get; } = elementKind;
    /// <summary>The fields of a composite column (or of an array's composite elements).</summary>
    public RecordShape? Record { get; init; }
    public bool IsKey { get; } = isKey;
    /// <summary>Index of the column in the source schema.</summary>
    public int Source { get; } = source;
}

/// <summary>
/// A table as a sink sees it: routed name and columns. One instance per source schema version and rule outcome, so sinks
/// can cache per instance (the PostgreSQL sink creates or alters the target table once per instance).
/// </summary>
public sealed class SinkTable
{
    public SinkTable(TableSchema source, string schema, string name, IReadOnlyList<SinkColumn> columns)
    {
        SourceSchema = source;
        Schema = schema;
        Name = name;
        Columns = columns;
        // The source's key order (the primary key's, which pgrelay's key convention follows), not column order.
        var keys = source.KeyColumns
            .Select(s => Enumerable.Range(0, columns.Count).FirstOrDefault(i => columns[i].IsKey && columns[i].Source == s, -1))
            .Where(i => i >= 0).ToList();
        keys.AddRange(Enumerable.Range(0, columns.Count).Where(i => columns[i].IsKey).Except(keys));
        KeyColumns = keys.Count > 0 ? [.. keys] : Enumerable.Range(0, columns.Count).ToArray();
        KeyName = CacheKey.TableKeyName(schema, name);
        // No primary key: the rows are a multiset (duplicates, NULLs), keyed by every column.
        IsMultiset = !source.HasPrimaryKey;
    }

    public TableSchema SourceSchema { get; }
    public string Schema { get; }
    public string Name { get; }
    public IReadOnlyList<SinkColumn> Columns { get; }
    /// <summary>Indexes (into <see cref="Columns"/>) of the key columns in key order; every column when the key was dropped.</summary>
    public int[] KeyColumns { get; }
    /// <summary>The bare name in schema public, else schema.table, names escaped: pgrelay's key convention (<see cref="CacheKey"/>).</summary>
    public string KeyName { get; }
    /// <summary>
    /// A source table without a primary key (REPLICA IDENTITY FULL): its rows are a multiset, so a target keeps
    /// duplicates and NULLs and an update or delete touches exactly one matching row.
    /// </summary>
    public bool IsMultiset { get; }
    public string QualifiedName => $"{Quote(Schema)}.{Quote(Name)}";

    /// <summary>Same routed name and the same columns (names, types, key flags, source positions).</summary>
    public bool SameLayout(SinkTable other) =>
        Schema == other.Schema && Name == other.Name && Columns.Count == other.Columns.Count &&
        Columns.Zip(other.Columns).All(p => p.First.Name == p.Second.Name && p.First.TypeOid == p.Second.TypeOid &&
            p.First.TypeModifier == p.Second.TypeModifier && p.First.IsKey == p.Second.IsKey && p.First.Source == p.Second.Source);

    public static string Quote(string identifier) => "\"" + identifier.Replace("\"", "\"\"") + "\"";
    public override string ToString() => $"{Schema}.{Name}";
}

/// <summary>
/// One value: PostgreSQL text bytes, NULL, or unknown (<see cref="ColumnState.Unchanged"/>): a replayed image lacks it,
/// because PostgreSQL did not send it (a TOAST value an UPDATE left alone, a non-key column of a key-only old row).
/// </summary>
public readonly record struct SinkValue(ColumnState State, ReadOnlyMemory<byte> Bytes)
{
    public static readonly SinkValue Null = new(ColumnState.Null, default);
    public static readonly SinkValue Unknown = new(ColumnState.Unchanged, default);
    public bool IsValue => State == ColumnState.Value;
    public bool IsUnknown => State == ColumnState.Unchanged;

    /// <summary>True when some value of the image is unknown.</summary>
    public static bool AnyUnknown(SinkValue[]? row)
    {
        if (row is null) return false;
        foreach (var v in row)
            if (v.State == ColumnState.Unchanged) return true;
        return false;
    }
    public string? Text => State == ColumnState.Value ? System.Text.Encoding.UTF8.GetString(Bytes.Span) : null;
}

/// <summary>
/// One change as delivered to sinks. <see cref="Index"/> is the change's position in its source transaction (stable
/// whatever the rules drop), so commit LSN + index identifies an event across retries and restarts.
/// </summary>
public sealed class ChangeEvent
{
    public required EventOp Op { get; init; }
    public SinkTable? Table { get; init; }
    /// <summary>Relation events: the layout before the change, when known.</summary>
    public SinkTable? PreviousTable { get; init; }
    /// <summary>
    /// Relation events with a <see cref="PreviousTable"/>: per column of <see cref="Table"/>, the column of the previous
    /// layout of the same name (perhaps with a new type), or -1 for an added column.
    /// </summary>
    public int[]? PreviousColumns { get; init; }
    public SinkValue[]? Before { get => _before; init => _before = value; }
    private SinkValue[]? _before;
    public SinkValue[]? After { get; init; }
    public Lsn CommitLsn { get; init; }
    public Lsn EndLsn { get; init; }
    public uint Xid { get; init; }
    public DateTimeOffset CommitTime { get; init; }
    public int Index { get; init; }
    /// <summary>Commit events: how many change events the transaction delivered to this sink.</summary>
    public int EventCount { get; init; }
    /// <summary>The source table (to find its publications).</summary>
    public StoredTable? SourceTable { get; init; }
    /// <summary>From a replayed transaction (after a restart, below the store's snapshot): see <see cref="Partial"/>.</summary>
    public bool Replayed { get; init; }

    /// <summary>
    /// The images are not complete: some values of <see cref="Before"/> or <see cref="After"/> are unknown
    /// (<see cref="SinkValue.IsUnknown"/>), or this is an update whose old row is unknown (<see cref="Before"/> null).
    /// Only replayed events are partial: pgrelay fills every live image from its store.
    /// </summary>
    public bool Partial { get; init; }

    /// <summary>
    /// For an event whose <see cref="After"/> lacks values: the row as pgrelay's store holds it now under the same key
    /// (in this event's layout; null when the store has no such row). A target that cannot find the old row to carry the
    /// missing values over from takes them from here: any later change to them follows in the feed.
    /// </summary>
    public Func<CancellationToken, Task<SinkValue[]?>>? Current { get; init; }

    /// <summary>In a table without primary key, which of identical rows the event took away (<see cref="Before"/>) or
    /// added (<see cref="After"/>): the copy part of its key (see <see cref="CacheKey"/>). 1 elsewhere.</summary>
    public int BeforeCopy { get; init; } = 1;

    /// <summary>A truncate that opens an initial load (<c>"snapshot":true</c>): the rows that follow replace the table's.</summary>
    public bool LoadStart { get; init; }

    /// <summary>A truncate for a table removed from the publications (<c>"unpublished":true</c>): the publications (key
    /// names) that held it, which the store's catalog no longer says. On a relation event: the table's publications
    /// changed while it stays published; it left these (maybe none) and may have joined others.</summary>
    public string[]? UnpublishedFrom { get; init; }
    public int AfterCopy { get; init; } = 1;

    /// <summary>This event with another old row (a replayed image whose old key a target found, see <c>IdentityKeys</c>).</summary>
    public ChangeEvent WithBefore(SinkValue[] before)
    {
        var copy = (ChangeEvent)MemberwiseClone();
        copy._before = before;
        return copy;
    }

    /// <summary>The row that names the key: After for inserts, updates and reads, Before for deletes.</summary>
    public SinkValue[]? KeyRow => After ?? Before;

    /// <summary>The row key in pgrelay's key convention (parts escaped, joined with '/', copy part last), or null without a row.</summary>
    public string? Key => After is not null ? KeyOf(After, AfterCopy) : KeyOf(Before, BeforeCopy);
    public string? BeforeKey => KeyOf(Before, BeforeCopy);

    /// <summary>An update whose before image names another key (the key changed, or a replayed image lacks it).</summary>
    public bool KeyChanged => Op == EventOp.Update && Before is not null && After is not null && BeforeKey is { } b && b != Key;

    /// <summary>The row key of <paramref name="row"/>, spelled as every protocol spells it; null when a key column was
    /// left out (a replayed UPDATE's unchanged TOAST value).</summary>
    public string? KeyOf(SinkValue[]? row, int copy = 1)
    {
        if (row is null || Table is null) return null;
        var keys = Table.KeyColumns;
        var key = new StringBuilder();
        for (int i = 0; i < keys.Length; i++)
        {
            var v = row[keys[i]];
            if (v.IsUnknown) return null;
            if (i > 0) key.Append('/');
            key.Append(v.State == ColumnState.Null ? Encoding.UTF8.GetString(CacheKey.NullPart) : Encoding.UTF8.GetString(KeyEscaping.Escaped(v.Bytes.Span, CacheKey.KeyJoiner)));
        }
        if (copy > 1) key.Append('/').Append(copy);
        return key.ToString();
    }

    /// <summary>The idempotency key: commit LSN and index (begin/commit events: "begin"/"commit").</summary>
    public string Id => Op switch
    {
        EventOp.Begin => $"{CommitLsn}:begin",
        EventOp.Commit => $"{CommitLsn}:commit",
        _ => $"{CommitLsn}:{Index}",
    };

    public string OpName => Op switch
    {
        EventOp.Begin => "begin",
        EventOp.Commit => "commit",
        _ => ((char)(byte)Op).ToString(),
    };
}

/// <summary>
/// What one delivery hands a sink: whole transactions (or a slice of the initial load). When the sink returns from
/// delivering it, everything in it must be durable at the target.
/// </summary>
public sealed class SinkBatch
{
    public List<ChangeEvent> Events { get; } = [];
    /// <summary>End LSN of the last transaction in the batch: the checkpoint once it is delivered (initial-load slices: none).</summary>
    public Lsn? EndLsn { get; set; }
    /// <summary>The first slice of an initial load: targets that keep state (PostgreSQL, Redis hashes) clear these tables first.</summary>
    public IReadOnlyList<SinkTable>? LoadStartTables { get; set; }
    /// <summary>
    /// The first slice of an initial load: every table the sink wrote before it (<see cref="WrittenTable"/>). Targets that
    /// keep state clear those the load does not clear anyway (<see cref="LoadStartTables"/>): a table removed from the
    /// publications while pgrelay was down, or one the rules route elsewhere now.
    /// </summary>
    public IReadOnlyList<WrittenTable>? LoadWrittenTables { get; set; }
    /// <summary>
    /// Every row pgrelay's store holds now for a layout's source table, in that layout: what a mirroring target fills a
    /// column with when its table lacks it and no relation event said what existing rows hold (a replay that began after
    /// the ALTER TABLE). Later changes to those rows follow in the feed.
    /// </summary>
    public Func<SinkTable, IEnumerable<SinkValue[]>>? StoreRows { get; set; }
    /// <summary>
    /// The rows of <see cref="StoreRows"/> that pass the sink's rules, with their copy counts (tables without primary key):
    /// what a target writes under a publication a table joined (its keys there are new, while its rows may not change).
    /// </summary>
    public Func<SinkTable, IEnumerable<(SinkValue[] Row, int Copies)>>? PublishedRows { get; set; }
}
