using Microsoft.Extensions.Logging;
using Npgsql;
using Pgrelay.Core.Model;

namespace Pgrelay.Replication.Schema;

/// <summary>
/// Reads publications from the catalog into <see cref="PublicationSchema"/>/<see cref="TableSchema"/>:
/// published columns only (PG15 column lists) in attnum order, which is the order pgoutput sends them,
/// row filters for the snapshot copy, keys and replica identities by <see cref="KeyRules"/>, the changes the
/// publications leave out, and page/tuple counts for the copy.
/// </summary>
public sealed class PublicationIntrospector
{
    private readonly ILogger _log;

    public PublicationIntrospector(ILogger log) => _log = log;

    private sealed record Row(string Publication, uint Oid, string Schema, string Table, char Identity, long Pages, long Tuples,
        string[]? AttNames, string? RowFilter, char Kind);

    private sealed record Attribute(short Num, string Name, uint TypeOid, int TypeMod);

    /// <param name="only">When set, only these relations are loaded (a load beside the stream); publications list only them.</param>
    public async Task<SourceSchema> LoadAsync(NpgsqlConnection conn, int serverVersionNum, IReadOnlyList<string> publications, CancellationToken ct,
        IReadOnlySet<uint>? only = null)
    {
        bool pg15 = serverVersionNum >= 150000;
        var sql = $"""
            SELECT pt.pubname, c.oid, pt.schemaname, pt.tablename, c.relreplident, c.relpages::int8, c.reltuples::int8,
                   {(pg15 ? "pt.attnames::text[]" : "NULL::text[]")}, {(pg15 ? "pt.rowfilter" : "NULL::text")}, c.relkind
            FROM pg_publication_tables pt
            JOIN pg_namespace n ON n.nspname = pt.schemaname
            JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = pt.tablename
            WHERE pt.pubname = ANY(@pubs)
            ORDER BY pt.schemaname, pt.tablename
            """;
        var rows = new List<Row>();
        await using (var cmd = new NpgsqlCommand(sql, conn))
        {
            cmd.Parameters.AddWithValue("pubs", publications.ToArray());
            await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await r.ReadAsync(ct).ConfigureAwait(false))
                rows.Add(new Row(r.GetString(0), r.GetFieldValue<uint>(1), r.GetString(2), r.GetString(3), r.GetChar(4),
                    r.GetInt64(5), r.GetInt64(6), r.IsDBNull(7) ? null : r.GetFieldValue<string[]>(7), r.IsDBNull(8) ? null : r.GetString(8), r.GetChar(9)));
        }

        if (only is not null) rows.RemoveAll(r => !only.Contains(r.Oid));
        var actions = await LoadActionsAsync(conn, publications, ct).ConfigureAwait(false);
        var tables = new Dictionary<uint, PublishedTable>();
        foreach (var group in rows.GroupBy(x => x.Oid))
        {
            var first = group.First();
            // A table in several publications: PostgreSQL publishes the union of column lists and actions, and ORs the filters.
            string[]? columnList = group.Any(g => g.AttNames is null) ? null : group.SelectMany(g => g.AttNames!).Distinct().ToArray();
            string? filter = group.Any(g => g.RowFilter is null) ? null
                : string.Join(" OR ", group.Select(g => g.RowFilter!).Distinct().Select(f => "(" + f + ")"));
            var published = group.Aggregate(ChangeActions.None, (all, g) => all | actions.GetValueOrDefault(g.Publication));
            var schema = await LoadTableAsync(conn, first, columnList, ChangeActions.All & ~published, ct).ConfigureAwait(false);
            tables[first.Oid] = new PublishedTable(schema, filter, first.Pages, first.Tuples, first.Kind == 'p');
        }

        var pubSchemas = publications.Select(p => new PublicationSchema(p,
            rows.Where(r => r.Publication == p && tables.ContainsKey(r.Oid)).Select(r => tables[r.Oid].Schema).ToList())).ToList();
        foreach (var p in pubSchemas.Where(p => p.Tables.Count == 0 && only is null))
            _log.LogWarning("publication {Publication} has no replicable tables", p.Name);
        foreach (var p in pubSchemas)
            foreach (var (shorter, longer) in KeyRules.AmbiguousKeyNames(p.Tables.Select(t => t.KeyName)))
                throw new ReplicationSetupException(
                    $"publication {p.Name} holds tables keyed {shorter} and {longer}, so a key {p.Name}.{longer}.… could name a row of either; " +
                    "rename one, or publish them in separate publications");
        foreach (var table in tables.Values.Select(t => t.Schema).Where(t => t.UnreplicatedChanges != ChangeActions.None))
            _log.LogWarning("table {Table} may be stale: its publications do not publish {Changes}, so PostgreSQL never sends them and " +
                "rows it changes that way stay as they were in the cache (see /status)",
                table, string.Join(", ", table.UnreplicatedChanges.Names()));
        return new SourceSchema(pubSchemas, tables.Values.ToList());
    }

    /// <summary>What each publication publishes (pg_publication's pubinsert, pubupdate, pubdelete, pubtruncate).</summary>
    private static async Task<Dictionary<string, ChangeActions>> LoadActionsAsync(NpgsqlConnection conn, IReadOnlyList<string> publications,
        CancellationToken ct)
    {
        var actions = new Dictionary<string, ChangeActions>();
        await using var cmd = new NpgsqlCommand(
            "SELECT pubname, pubinsert, pubupdate, pubdelete, pubtruncate FROM pg_publication WHERE pubname = ANY(@pubs)", conn);
        cmd.Parameters.AddWithValue("pubs", publications.ToArray());
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await r.ReadAsync(ct).ConfigureAwait(false))
            actions[r.GetString(0)] = (r.GetBoolean(1) ? ChangeActions.Insert : 0) | (r.GetBoolean(2) ? ChangeActions.Update : 0) |
                (r.GetBoolean(3) ? ChangeActions.Delete : 0) | (r.GetBoolean(4) ? ChangeActions.Truncate : 0);
        return actions;
    }

    private static async Task<TableSchema> LoadTableAsync(NpgsqlConnection conn, Row table, string[]? columnList, ChangeActions unreplicated,
        CancellationToken ct)
    {
        var attributes = new List<Attribute>();
        // pgoutput leaves out dropped and generated columns.
        await using (var cmd = new NpgsqlCommand("""
            SELECT attnum, attname, atttypid, atttypmod FROM pg_attribute
            WHERE attrelid = @oid AND attnum > 0 AND NOT attisdropped AND attgenerated = ''
            ORDER BY attnum
            """, conn))
        {
            cmd.Parameters.AddWithValue("oid", NpgsqlTypes.NpgsqlDbType.Oid, table.Oid);
            await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await r.ReadAsync(ct).ConfigureAwait(false))
            {
                var attname = r.GetString(1);
                if (columnList is null || columnList.Contains(attname))
                    attributes.Add(new Attribute(r.GetInt16(0), attname, r.GetFieldValue<uint>(2), r.GetInt32(3)));
            }
        }

        short[]? primaryKey = null, identityIndex = null;
        await using (var cmd = new NpgsqlCommand(
            "SELECT indisprimary, indisreplident, indkey::int2[] FROM pg_index WHERE indrelid = @oid AND (indisprimary OR indisreplident)", conn))
        {
            cmd.Parameters.AddWithValue("oid", NpgsqlTypes.NpgsqlDbType.Oid, table.Oid);
            await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await r.ReadAsync(ct).ConfigureAwait(false))
            {
                var attnums = r.GetFieldValue<short[]>(2);
                if (r.GetBoolean(0)) primaryKey = attnums;
                if (r.GetBoolean(1)) identityIndex = attnums;
            }
        }

        var identity = (ReplicaIdentity)(byte)table.Identity;
        var published = attributes.Select(a => a.Num).ToList();
        // Keys are joined in primary key order (pub.cities.Tulsa/OK for PRIMARY KEY (name, state)), not column order.
        var key = KeyRules.KeyAttnums(primaryKey, published);
        var identityColumns = KeyRules.IdentityAttnums(identity, primaryKey, identityIndex, published);
        var kinds = await TypeRendering.KindsAsync(conn, attributes.Select(a => a.TypeOid), ct).ConfigureAwait(false);
        var columns = attributes.Select(a =>
        {
            var column = new ColumnSchema(a.Name, a.TypeOid, a.TypeMod, key?.Contains(a.Num) == true);
            return kinds.TryGetValue(a.TypeOid, out var kind) ? column with { Kind = kind.Kind, ElementKind = kind.Element, Record = kind.Record } : column;
        }).ToList();
        string NameOf(short num) => attributes.First(a => a.Num == num).Name;
        var keyOrder = key?.Select(NameOf).ToList();
        var identityNames = identityColumns.Where(published.Contains).Select(NameOf).ToList();
        return new TableSchema(table.Oid, table.Schema, table.Table, columns, identity, keyOrder, identityNames, unreplicated);
    }
}
