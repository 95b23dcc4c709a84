namespace Pgrelay.Core.Model;

/// <summary>
/// The shape of one replicated table. Immutable: a relation change (ALTER TABLE) produces a new
/// instance, and rows always carry values in the column order of the schema they were built for.
/// </summary>
public sealed class TableSchema
{
    /// <param name="keyOrder">Names of the key columns in key order (the primary key's column order, which the
    /// key convention follows); when null, key columns come in column order.</param>
    public TableSchema(uint relationId, string schemaName, string tableName, IReadOnlyList<ColumnSchema> columns,
        ReplicaIdentity replicaIdentity, IReadOnlyList<string>? keyOrder = null)
    {
        RelationId = relationId;
        SchemaName = schemaName;
        TableName = tableName;
        Columns = columns;
        ReplicaIdentity = replicaIdentity;
        var inColumnOrder = columns.Select((c, i) => (c, i)).Where(t => t.c.IsKey).Select(t => t.i).ToList();
        var ordered = (keyOrder ?? [])
            .Select(name => inColumnOrder.FirstOrDefault(i => columns[i].Name == name, -1))
            .Where(i => i >= 0).Distinct().ToList();
        KeyColumns = [.. ordered, .. inColumnOrder.Except(ordered)];
        KeyName = schemaName == "public" ? tableName : schemaName + "." + tableName;
        Utf8KeyName = System.Text.Encoding.UTF8.GetBytes(KeyName);
    }

    public uint RelationId { get; }
    public string SchemaName { get; }
    public string TableName { get; }
    public IReadOnlyList<ColumnSchema> Columns { get; }
    public ReplicaIdentity ReplicaIdentity { get; }

    /// <summary>Indexes of key columns in key order (primary key order, or the replica identity index).</summary>
    public int[] KeyColumns { get; }

    /// <summary>The table part of a cache key: the bare name in schema public, "schema.table" elsewhere.</summary>
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
    public bool IsRowCompatibleWith(TableSchema other) => HasSameColumns(other) && KeyColumns.AsSpan().SequenceEqual(other.KeyColumns);

    public override string ToString() => $"{SchemaName}.{TableName}";
}
