namespace Pgrelay.Core.Model;

/// <summary>
/// A composite type's fields as the catalog lists them (pg_attribute of its typrelid, dropped attributes left out, in
/// attnum order): what a composite value's text "(f1,f2,...)" holds, and how each field renders, so that JSON gets the
/// object <c>to_jsonb</c> makes of it. The OID does not say it, and pgoutput sends no message when ALTER TYPE changes it.
/// </summary>
public sealed class RecordShape
{
    public RecordShape(IReadOnlyList<RecordField> fields)
    {
        Fields = fields;
        Signature = "(" + string.Join(",", fields.Select(f => f.Signature)) + ")";
    }

    public IReadOnlyList<RecordField> Fields { get; }

    /// <summary>Names, type OIDs and renderings, nested shapes included: two shapes render alike exactly when equal.</summary>
    public string Signature { get; }

    public static string SignatureOf(RecordShape? shape) => shape?.Signature ?? "";
}

/// <summary>One field of a composite: rendered as a column of the same type would be.</summary>
public sealed class RecordField(string name, uint typeOid, PgTypeKind kind, PgTypeKind elementKind, RecordShape? record)
{
    public string Name { get; } = name;
    public uint TypeOid { get; } = typeOid;
    public PgTypeKind Kind { get; } = kind;
    public PgTypeKind ElementKind { get; } = elementKind;

    /// <summary>For a field of composite type (or an array of one), its own fields.</summary>
    public RecordShape? Record { get; } = record;

    /// <summary>UTF-8 name, cached because every rendered value writes it.</summary>
    public byte[] Utf8Name { get; } = System.Text.Encoding.UTF8.GetBytes(name);

    internal string Signature => $"{Uri.EscapeDataString(Name)}:{TypeOid}:{(int)Kind}:{(int)ElementKind}{RecordShape.SignatureOf(Record)}";
}
