using Npgsql;

namespace Pgrelay.Replication.Reloads;

/// <summary>
/// Reads which tables the replicated publications include and what columns they publish, in one round of queries. The
/// stream does not announce ALTER PUBLICATION, and an ALTER TABLE shows in it only at the table's next change, so this
/// is how pgrelay learns of both (<see cref="PublicationWatcher"/>); inside an exported snapshot it says what a copy holds.
/// </summary>
internal static class PublicationMembership
{
    public static async Task<Dictionary<uint, PublishedRelation>> ReadAsync(NpgsqlConnection conn, int serverVersionNum,
        IReadOnlyList<string> publications, CancellationToken ct, IReadOnlyCollection<uint>? only = null)
    {
        bool pg15 = serverVersionNum >= 150000;
        var members = new List<(uint Oid, string Name, string Publication, string[]? AttNames, long Token, string Schema, string Table, string Partitions,
            string? RowFilter)>();
        await using (var cmd = new NpgsqlCommand($"""
            SELECT c.oid, quote_ident(pt.schemaname) || '.' || quote_ident(pt.tablename), pt.pubname,
                   {(pg15 ? "pt.attnames::text[]" : "NULL::text[]")},
                   coalesce(pr.oid, {(pg15 ? "pn.oid, " : "")}p.oid)::int8, pt.schemaname::text, pt.tablename::text,
                   coalesce((SELECT string_agg(pp.relid::oid::text, ',' ORDER BY pp.relid::oid)
                             FROM pg_partition_tree(c.oid) pp WHERE pp.isleaf AND pp.relid <> c.oid::regclass), ''),
                   {(pg15 ? "pt.rowfilter" : "NULL::text")}
            FROM pg_publication_tables pt
            JOIN pg_publication p ON p.pubname = pt.pubname
            JOIN pg_namespace n ON n.nspname = pt.schemaname
            JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = pt.tablename
            LEFT JOIN pg_publication_rel pr ON pr.prpubid = p.oid AND pr.prrelid = c.oid
            {(pg15 ? "LEFT JOIN pg_publication_namespace pn ON pn.pnpubid = p.oid AND pn.pnnspid = n.oid" : "")}
            WHERE pt.pubname = ANY(@pubs) {(only is null ? "" : "AND c.oid = ANY(@only)")}
            """, conn))
        {
            cmd.Parameters.AddWithValue("pubs", publications.ToArray());
            if (only is not null) cmd.Parameters.AddWithValue("only", NpgsqlTypes.NpgsqlDbType.Array | NpgsqlTypes.NpgsqlDbType.Oid, only.ToArray());
            await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await r.ReadAsync(ct).ConfigureAwait(false))
                members.Add((r.GetFieldValue<uint>(0), r.GetString(1), r.GetString(2), r.IsDBNull(3) ? null : r.GetFieldValue<string[]>(3), r.GetInt64(4),
                    r.GetString(5), r.GetString(6), r.GetString(7), r.IsDBNull(8) ? null : r.GetString(8)));
        }

        var columns = new Dictionary<uint, List<(string, uint, int)>>();
        if (members.Count > 0)
        {
            await using var cmd = new NpgsqlCommand("""
                SELECT attrelid, attname, atttypid, atttypmod FROM pg_attribute
                WHERE attrelid = ANY(@rels) AND attnum > 0 AND NOT attisdropped AND attgenerated = ''
                ORDER BY attrelid, attnum
                """, conn);
            cmd.Parameters.AddWithValue("rels", NpgsqlTypes.NpgsqlDbType.Array | NpgsqlTypes.NpgsqlDbType.Oid,
                members.Select(m => m.Oid).Distinct().ToArray());
            await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await r.ReadAsync(ct).ConfigureAwait(false))
            {
                var oid = r.GetFieldValue<uint>(0);
                if (!columns.TryGetValue(oid, out var list)) columns[oid] = list = [];
                list.Add((r.GetString(1), r.GetFieldValue<uint>(2), r.GetInt32(3)));
            }
        }

        var keys = new Dictionary<uint, string[]>();
        if (members.Count > 0)
        {
            await using var cmd = new NpgsqlCommand("""
                SELECT i.indrelid, array_agg(a.attname::text ORDER BY k.ord)
                FROM pg_index i
                CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
                JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
                WHERE i.indisprimary AND i.indrelid = ANY(@rels)
                GROUP BY i.indrelid
                """, conn);
            cmd.Parameters.AddWithValue("rels", NpgsqlTypes.NpgsqlDbType.Array | NpgsqlTypes.NpgsqlDbType.Oid,
                members.Select(m => m.Oid).Distinct().ToArray());
            await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await r.ReadAsync(ct).ConfigureAwait(false)) keys[r.GetFieldValue<uint>(0)] = r.GetFieldValue<string[]>(1);
        }

        // ALTER TYPE … ADD/DROP/RENAME ATTRIBUTE changes how a composite column's values read without a Relation message
        // (the table itself is not altered): the composites' fields are compared too.
        var renderings = columns.Count == 0 ? []
            : await Schema.TypeRendering.KindsAsync(conn, columns.Values.SelectMany(l => l.Select(c => c.Item2)), ct).ConfigureAwait(false);

        var result = new Dictionary<uint, PublishedRelation>();
        foreach (var group in members.GroupBy(m => m.Oid))
        {
            // Several publications: PostgreSQL publishes the union of their column lists (all columns if one has none).
            var lists = group.Select(g => g.AttNames).ToList();
            HashSet<string>? published = lists.Any(l => l is null) ? null : lists.SelectMany(l => l!).ToHashSet();
            var cols = columns.GetValueOrDefault(group.Key, []).Where(c => published is null || published.Contains(c.Item1)).ToList();
            var key = keys.GetValueOrDefault(group.Key, []);
            if (!key.All(k => cols.Any(c => c.Item1 == k))) key = [];
            result[group.Key] = new PublishedRelation(group.Key, group.First().Name,
                group.Select(g => g.Publication).Distinct().Order(StringComparer.Ordinal).ToList(),
                string.Join(',', group.OrderBy(g => g.Publication, StringComparer.Ordinal).Select(g => g.Token)), cols, key)
            {
                SchemaName = group.First().Schema,
                TableName = group.First().Table,
                Partitions = group.First().Partitions,
                // As PostgreSQL publishes it: every row when one publication has no filter, else the rows any filter passes.
                Composites = string.Join(",", cols.Select(c => Core.Model.RecordShape.SignatureOf(renderings.GetValueOrDefault(c.Item2).Record))),
                RowFilter = group.Any(g => g.RowFilter is null) ? null
                    : string.Join(" OR ", group.Select(g => g.RowFilter!).Distinct().Order(StringComparer.Ordinal).Select(f => "(" + f + ")")),
            };
        }
        return result;
    }
}
