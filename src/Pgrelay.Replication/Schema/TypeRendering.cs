using Npgsql;
using Pgrelay.Core.Model;

namespace Pgrelay.Replication.Schema;

/// <summary>
/// How columns of types the OID alone does not describe render as JSON, as <c>to_jsonb</c> renders them: a domain as its
/// base type (json.c looks through domains), an array of a user-defined type (enum, range, domain) as an array of its
/// elements, with the element type's delimiter (box's is ';'), a composite (or a domain over one) as an object of its
/// fields, each field rendered the same way, nested composites included. Enums and ranges are strings already (Text).
/// </summary>
internal static class TypeRendering
{
    private const string Query = """
        WITH RECURSIVE
        chain(start, oid) AS (
            SELECT o, o FROM unnest(@oids::oid[]) AS o
          UNION ALL
            SELECT c.start, t.typbasetype FROM chain c JOIN pg_type t ON t.oid = c.oid WHERE t.typtype = 'd'),
        base AS (
          SELECT c.start, c.oid, CASE WHEN t.typcategory = 'A' AND t.typelem <> 0 THEN t.typelem END AS elem
          FROM chain c JOIN pg_type t ON t.oid = c.oid WHERE t.typtype <> 'd'),
        echain(start, oid) AS (
            SELECT start, elem FROM base WHERE elem IS NOT NULL
          UNION ALL
            SELECT c.start, t.typbasetype FROM echain c JOIN pg_type t ON t.oid = c.oid WHERE t.typtype = 'd')
        SELECT b.start, b.oid, e.oid, et.typtype::text, (SELECT typdelim::text FROM pg_type WHERE oid = b.elem),
               (SELECT typtype::text FROM pg_type WHERE oid = b.oid)
        FROM base b LEFT JOIN echain e ON e.start = b.start LEFT JOIN pg_type et ON et.oid = e.oid
        WHERE b.elem IS NULL OR et.typtype <> 'd'
        """;

    /// <summary>A composite's fields, by the composite's type OID: pg_attribute of its typrelid, as record_out prints them.</summary>
    private const string FieldsQuery = """
        SELECT t.oid, a.attname::text, a.atttypid
        FROM pg_type t JOIN pg_attribute a ON a.attrelid = t.typrelid
        WHERE t.oid = ANY(@oids) AND a.attnum > 0 AND NOT a.attisdropped
        ORDER BY t.oid, a.attnum
        """;

    // Composites cannot contain themselves (PostgreSQL refuses), so the nesting ends; the bound only keeps a catalog that
    // changes under the look from making it endless.
    private const int MaxDepth = 32;

    /// <summary>How each type OID renders: its kind, its elements' kind, and for composites (or arrays of them) their fields.</summary>
    public static Task<Dictionary<uint, ColumnRendering>> KindsAsync(NpgsqlConnection conn, IEnumerable<uint> oids, CancellationToken ct) =>
        KindsAsync(conn, oids, 0, ct);

    private static async Task<Dictionary<uint, ColumnRendering>> KindsAsync(NpgsqlConnection conn, IEnumerable<uint> oids, int depth,
        CancellationToken ct)
    {
        var kinds = new Dictionary<uint, ColumnRendering>();
        var composites = new Dictionary<uint, uint>();   // type (or array) OID -> the composite's OID
        await using (var cmd = new NpgsqlCommand(Query, conn))
        {
            cmd.Parameters.Add(new NpgsqlParameter("oids", NpgsqlTypes.NpgsqlDbType.Array | NpgsqlTypes.NpgsqlDbType.Oid) { Value = oids.Distinct().ToArray() });
            await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await r.ReadAsync(ct).ConfigureAwait(false))
            {
                uint start = r.GetFieldValue<uint>(0), baseOid = r.GetFieldValue<uint>(1);
                if (r.IsDBNull(2))
                {
                    if (r.GetString(5) == "c")
                    {
                        kinds[start] = new ColumnRendering(PgTypeKind.Record, PgTypeKind.Record, null);
                        composites[start] = baseOid;
                    }
                    else kinds[start] = new ColumnRendering(PgTypes.KindOf(baseOid), ElementKindOf(baseOid), null);
                    continue;
                }
                uint element = r.GetFieldValue<uint>(2);
                var arrayKind = r.GetString(4) == ";" ? PgTypeKind.SemicolonArray : PgTypeKind.Array;
                if (r.GetString(3) == "c")
                {
                    kinds[start] = new ColumnRendering(arrayKind, PgTypeKind.Record, null);
                    composites[start] = element;
                    continue;
                }
                var elementKind = PgTypes.KindOf(element) is var k and not (PgTypeKind.Array or PgTypeKind.SemicolonArray) ? k : PgTypeKind.Text;
                kinds[start] = new ColumnRendering(arrayKind, elementKind, null);
            }
        }
        if (composites.Count == 0) return kinds;

        // Unknown shapes (too deep, or a type dropped under the look) leave the composite its text.
        if (depth >= MaxDepth) return kinds;
        var fields = new Dictionary<uint, List<(string Name, uint Type)>>();
        await using (var cmd = new NpgsqlCommand(FieldsQuery, conn))
        {
            cmd.Parameters.Add(new NpgsqlParameter("oids", NpgsqlTypes.NpgsqlDbType.Array | NpgsqlTypes.NpgsqlDbType.Oid)
                { Value = composites.Values.Distinct().ToArray() });
            await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await r.ReadAsync(ct).ConfigureAwait(false))
            {
                var oid = r.GetFieldValue<uint>(0);
                if (!fields.TryGetValue(oid, out var list)) fields[oid] = list = [];
                list.Add((r.GetString(1), r.GetFieldValue<uint>(2)));
            }
        }
        var fieldKinds = await KindsAsync(conn, fields.Values.SelectMany(f => f.Select(x => x.Type)), depth + 1, ct).ConfigureAwait(false);
        var shapes = fields.ToDictionary(f => f.Key, f => new RecordShape([.. f.Value.Select(x =>
        {
            var rendering = fieldKinds.GetValueOrDefault(x.Type, new ColumnRendering(PgTypes.KindOf(x.Type), ElementKindOf(x.Type), null));
            return new RecordField(x.Name, x.Type, rendering.Kind, rendering.Element, rendering.Record);
        })]));
        foreach (var (start, composite) in composites)
            kinds[start] = shapes.TryGetValue(composite, out var shape)
                ? kinds[start] with { Record = shape }
                : new ColumnRendering(PgTypeKind.Text, PgTypeKind.Text, null);
        return kinds;
    }

    private static PgTypeKind ElementKindOf(uint oid) => PgTypes.ElementOf(oid) is var e and not 0 ? PgTypes.KindOf(e) : PgTypes.KindOf(oid);
}

/// <summary>How a type renders as JSON: its kind, its elements' kind, and a composite's (or composite elements') fields.</summary>
internal readonly record struct ColumnRendering(PgTypeKind Kind, PgTypeKind Element, RecordShape? Record);
