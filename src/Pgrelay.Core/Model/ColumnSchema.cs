namespace Pgrelay.Core.Model;

/// <summary>One replicated column, as the publication exposes it.</summary>
/// <param name="TypeOid">pg_type OID; for domains and user types the kind falls back to Text.</param>
/// <param name="ElementKind">For arrays, how elements render; otherwise same as Kind.</param>
public sealed record ColumnSchema(string Name, uint TypeOid, int TypeModifier, bool IsKey)
{
    public PgTypeKind Kind { get; init; } = PgTypes.KindOf(TypeOid);

    public PgTypeKind ElementKind { get; init; } =
        PgTypes.ElementOf(TypeOid) is var e and not 0 ? PgTypes.KindOf(e) : PgTypes.KindOf(TypeOid);

    /// <summary>For a composite column (Kind Record) or an array of composites (ElementKind Record), the composite's fields,
    /// introspected; null otherwise, and for composites when the shape is not known (they render as their text).</summary>
    public RecordShape? Record { get; init; }

    /// <summary>UTF-8 name, cached because every rendered row writes it.</summary>
    public byte[] Utf8Name { get; } = System.Text.Encoding.UTF8.GetBytes(Name);
}
