using Npgsql;
using Pgrelay.Core.Model;

namespace Pgrelay.Replication.Schema;

/// <summary>
/// How columns of types the OID alone does not describe render as JSON, as <c>to_jsonb</c> renders them: a domain as its
/// base type (json.c looks through domains), an array of a user-defined type (enum, range, domain) as an array of its
/// elements, with the element type's delimiter (box's is ';'). Enums and ranges are strings already (Text); composites
/// (and arrays of them) stay their text until rows of record type are rendered as objects.
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
        SELECT b.start, b.oid, e.oid, et.typtype::text, (SELECT typdelim::text FROM pg_type WHERE oid = b.elem)
        FROM base b LEFT JOIN echain e ON e.start = b.start LEFT JOIN pg_type et ON et.oid = e.oid
        WHERE b.elem IS NULL OR et.typtype <> 'd'
        """;

    /// <summary>The rendering kinds (value, element) of each type OID.</summary>
    public static async Task<Dictionary<uint, (PgTypeKind Kind, PgTypeKind Element)>> KindsAsync(NpgsqlConnection conn, IEnumerable<uint> oids,
        CancellationToken ct)
    {
        var kinds = new Dictionary<uint, (PgTypeKind, PgTypeKind)>();
        await using var cmd = new NpgsqlCommand(Query, conn);
        cmd.Parameters.Add(new NpgsqlParameter("oids", NpgsqlTypes.NpgsqlDbType.Array | NpgsqlTypes.NpgsqlDbType.Oid) { Value = oids.Distinct().ToArray() });
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await r.ReadAsync(ct).ConfigureAwait(false))
        {
            uint start = r.GetFieldValue<uint>(0), baseOid = r.GetFieldValue<uint>(1);
            if (r.IsDBNull(2))
            {
                kinds[start] = (PgTypes.KindOf(baseOid), ElementKindOf(baseOid));
                continue;
            }
            uint element = r.GetFieldValue<uint>(2);
            if (r.GetString(3) == "c")
            {
                kinds[start] = (PgTypeKind.Text, PgTypeKind.Text);   // an array of records: its text, as before
                continue;
            }
            var elementKind = PgTypes.KindOf(element) is var k and not (PgTypeKind.Array or PgTypeKind.SemicolonArray) ? k : PgTypeKind.Text;
            kinds[start] = (r.GetString(4) == ";" ? PgTypeKind.SemicolonArray : PgTypeKind.Array, elementKind);
        }
        return kinds;
    }

    private static PgTypeKind ElementKindOf(uint oid) => PgTypes.ElementOf(oid) is var e and not 0 ? PgTypes.KindOf(e) : PgTypes.KindOf(oid);
}
