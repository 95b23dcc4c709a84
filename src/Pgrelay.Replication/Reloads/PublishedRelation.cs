namespace Pgrelay.Replication.Reloads;

/// <summary>
/// A table as the catalog publishes it right now (or as of a snapshot): the publications naming it, the columns they
/// publish, and a membership token that changes when the table leaves a publication and comes back.
/// </summary>
/// <param name="Publications">Names of the replicated publications that include it, sorted.</param>
/// <param name="Token">The pg_publication_rel (or pg_publication_namespace, or pg_publication) row ids that put it there:
/// ALTER PUBLICATION DROP TABLE then ADD TABLE makes a new row, so a table removed and re-added between two looks is seen.</param>
/// <param name="Columns">Published columns in attnum order, as pgoutput sends them: name, type OID, type modifier.</param>
/// <param name="PrimaryKey">The primary key's columns in key order; empty without one, or when the publication's column
/// list leaves one of them out (the table is then keyed by all its columns).</param>
internal sealed record PublishedRelation(uint RelationId, string Name, IReadOnlyList<string> Publications, string Token,
    IReadOnlyList<(string Name, uint TypeOid, int TypeModifier)> Columns, IReadOnlyList<string> PrimaryKey)
{
    /// <summary>Schema and table name, unquoted.</summary>
    public required string SchemaName { get; init; }
    public required string TableName { get; init; }

    /// <summary>The leaf partitions of a partitioned table published through its root (relation ids, sorted); empty for any
    /// other table. ATTACH and DETACH PARTITION add or take away the root's rows without a change in the stream.</summary>
    public string Partitions { get; init; } = "";

    /// <summary>Which of its rows are published (PostgreSQL 15's publication <c>WHERE</c>, ORed over its publications); null for
    /// all. ALTER PUBLICATION … SET TABLE … WHERE changes it without a word in the stream, and the rows it lets in or out
    /// since are not streamed either.</summary>
    public string? RowFilter { get; init; }

    /// <summary>The fields of each published column's composite type (empty for other types), as
    /// <see cref="Core.Model.RecordShape.Signature"/>s joined by ','. ALTER TYPE changes them without a word in the stream.</summary>
    public string Composites { get; init; } = "";

    /// <summary>Whether the held schema reads composite values with the fields the catalog has now.</summary>
    public bool SameCompositesAs(Core.Model.TableSchema schema) =>
        Composites == string.Join(",", schema.Columns.Select(c => Core.Model.RecordShape.SignatureOf(c.Record)));

    /// <summary>What a store checkpoint records for this table: the membership token and the row filter, so that a start
    /// notices either having changed while pgrelay was down (<see cref="SplitCheckpointToken"/> tells which).</summary>
    public string CheckpointToken => RowFilter is null ? Token : Token + RowFilterSeparator + RowFilter;

    private const string RowFilterSeparator = "|where ";

    public static (string Membership, string? RowFilter) SplitCheckpointToken(string token) =>
        token.IndexOf(RowFilterSeparator, StringComparison.Ordinal) is var at and >= 0
            ? (token[..at], token[(at + RowFilterSeparator.Length)..])
            : (token, null);

    /// <summary>RENAME and SET SCHEMA send no Relation message until the table's next change, and none at all if it never
    /// changes again; served keys name the table, so the catalog's name is compared too.</summary>
    public bool SameNameAs(Core.Model.TableSchema schema) => SchemaName == schema.SchemaName && TableName == schema.TableName;

    /// <summary>The stream says nothing when a primary key is added, dropped or replaced under a replica identity other
    /// than DEFAULT; the catalog does.</summary>
    public bool SameKeyAs(Core.Model.TableSchema schema) =>
        PrimaryKey.SequenceEqual(schema.HasPrimaryKey ? schema.KeyColumns.Select(k => schema.Columns[k].Name) : []);

    public bool SameColumnsAs(Core.Model.TableSchema schema) =>
        Columns.Count == schema.Columns.Count &&
        Columns.Select((c, i) => c.Name == schema.Columns[i].Name && c.TypeOid == schema.Columns[i].TypeOid &&
                                 c.TypeModifier == schema.Columns[i].TypeModifier).All(x => x);
}
