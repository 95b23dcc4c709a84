namespace Pgrelay.Core.Model;

/// <summary>
/// The shape of one replicated table. Immutable: a relation change (ALTER TABLE) produces a new
/// instance, and rows always carry values in the column order of the schema they were built for.
/// </summary>
public sealed class TableSchema
{
    /// <param name="columns">The published columns; <see cref="ColumnSchema.IsKey"/> marks the primary key's. Without any,
    /// the table has no usable primary key and is keyed by all its columns (a multiset of rows).</param>
    /// <param name="keyOrder">Names of the key columns in key order (the primary key's column order, which the
    /// key convention follows); when null, key columns come in column order.</param>
    /// <param name="identityColumns">Names of the replica identity's columns, which an UPDATE's or DELETE's old row
    /// carries; when null, derived from <paramref name="replicaIdentity"/> (DEFAULT: the primary key).</param>
    /// <param name="unreplicatedChanges">Changes none of the publications sends for this table.</param>
    public TableSchema(uint relationId, string schemaName, string tableName, IReadOnlyList<ColumnSchema> columns,
        ReplicaIdentity replicaIdentity, IReadOnlyList<string>? keyOrder = null, IReadOnlyList<string>? identityColumns = null,
        ChangeActions unreplicatedChanges = ChangeActions.None)
    {
        RelationId = relationId;
        SchemaName = schemaName;
        TableName = tableName;
        Columns = columns;
        ReplicaIdentity = replicaIdentity;
        UnreplicatedChanges = unreplicatedChanges;
        var inColumnOrder = columns.Select((c, i) => (c, i)).Where(t => t.c.IsKey).Select(t => t.i).ToList();
        HasPrimaryKey = inColumnOrder.Count > 0;
        if (!HasPrimaryKey) inColumnOrder = Enumerable.Range(0, columns.Count).ToList();
        var ordered = (HasPrimaryKey ? keyOrder ?? [] : [])
            .Select(name => inColumnOrder.FirstOrDefault(i => columns[i].Name == name, -1))
            .Where(i => i >= 0).Distinct().ToList();
        KeyColumns = [.. ordered, .. inColumnOrder.Except(ordered)];
        IdentityColumns = identityColumns is not null
            ? [.. identityColumns.Select(ColumnIndex).Where(i => i >= 0)]
            : replicaIdentity switch
            {
                ReplicaIdentity.Full => [.. Enumerable.Range(0, columns.Count)],
                ReplicaIdentity.Nothing => [],
                _ => HasPrimaryKey ? KeyColumns : [],
            };
        OldRowCarriesKey = KeyColumns.All(k => IdentityColumns.Contains(k));
        KeyName = Keys.CacheKey.TableKeyName(schemaName, tableName);
        Utf8KeyName = System.Text.Encoding.UTF8.GetBytes(KeyName);
    }

    public uint RelationId { get; }
    public string SchemaName { get; }
    public string TableName { get; }
    public IReadOnlyList<ColumnSchema> Columns { get; }
    public ReplicaIdentity ReplicaIdentity { get; }

    /// <summary>Indexes of key columns in key order: the primary key's, or every column when there is none.</summary>
    public int[] KeyColumns { get; }

    /// <summary>False when no primary key is published: the table is keyed by all its columns and identical rows are
    /// kept as copies of one key (see <see cref="Keys.CacheKey"/>).</summary>
    public bool HasPrimaryKey { get; }

    /// <summary>Indexes of the replica identity's columns: what the old row of an UPDATE or DELETE carries.</summary>
    public int[] IdentityColumns { get; }

    /// <summary>The old row of an UPDATE or DELETE holds every key column, so it names the row's key by itself. When it
    /// does not (REPLICA IDENTITY USING INDEX on other columns), the row is found through its identity columns.</summary>
    public bool OldRowCarriesKey { get; }

    /// <summary>Changes PostgreSQL never sends for this table (its publications do not publish them): rows may then be
    /// stale, and pgrelay says so rather than serve them silently.</summary>
    public ChangeActions UnreplicatedChanges { get; }

    /// <summary>The table part of a cache key: the bare name in schema public, "schema.table" elsewhere (names escaped).</summary>
    public string KeyName { get; }
    public byte[] Utf8KeyName { get; }

    public string QualifiedName => $"\"{SchemaName.Replace("\"", "\"\"")}\".\"{TableName.Replace("\"", "\"\"")}\"";

    public int ColumnIndex(string name)
    {
        for (int i = 0; i < Columns.Count; i++)
            if (Columns[i].Name == name) return i;
        return -1;
    }

    public int ColumnIndex(ReadOnlySpan<byte> utf8Name)
    {
        for (int i = 0; i < Columns.Count; i++)
            if (utf8Name.SequenceEqual(Columns[i].Utf8Name)) return i;
        return -1;
    }

    /// <summary>Same columns in the same order: names, type OIDs and type modifiers. A row encoded for one decodes, value for
    /// value, as a row of the other.</summary>
    public bool HasSameColumns(TableSchema other)
    {
        if (Columns.Count != other.Columns.Count) return false;
        for (int i = 0; i < Columns.Count; i++)
        {
            ColumnSchema a = Columns[i], b = other.Columns[i];
            if (a.Name != b.Name || a.TypeOid != b.TypeOid || a.TypeModifier != b.TypeModifier) return false;
        }
        return true;
    }

    /// <summary>
    /// Rows of one are rows of the other under the same keys: <see cref="HasSameColumns">same columns</see> and the same key
    /// columns in the same order. A change of schema that keeps this (a replica identity change that keeps the key) leaves
    /// the held rows valid; anything else (columns added, dropped, renamed, retyped) needs the table's rows read again.
    /// </summary>
    public bool IsRowCompatibleWith(TableSchema other) =>
        HasSameColumns(other) && HasPrimaryKey == other.HasPrimaryKey && KeyColumns.AsSpan().SequenceEqual(other.KeyColumns);

    /// <summary>Whether a column is a composite whose fields are known (ALTER TYPE can change them under the table).</summary>
    public bool HasRecords => _hasRecords ??= Columns.Any(c => c.Record is not null);

    private bool? _hasRecords;

    /// <summary>Whether values of the same columns render alike: the composites' fields too, which ALTER TYPE changes while
    /// the table's own columns stay the same.</summary>
    public bool RendersLike(TableSchema other)
    {
        if (Columns.Count != other.Columns.Count) return false;
        for (int i = 0; i < Columns.Count; i++)
        {
            ColumnSchema a = Columns[i], b = other.Columns[i];
            if (a.Kind != b.Kind || a.ElementKind != b.ElementKind || RecordShape.SignatureOf(a.Record) != RecordShape.SignatureOf(b.Record))
                return false;
        }
        return true;
    }

    public override string ToString() => $"{SchemaName}.{TableName}";
}
