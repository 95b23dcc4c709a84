using Npgsql;
using NpgsqlTypes;
using Pgrelay.Core.Model;
using Pgrelay.Core.Rows;
using Pgrelay.Sinks.Events;

namespace Pgrelay.Sinks.Targets;

/// <summary>
/// Keeps tables in a target PostgreSQL database equal to the source's (after rules). Each batch is one target
/// transaction: per table, the batch's net effect per key (<see cref="PendingRows"/>) becomes one DELETE and one
/// INSERT ... ON CONFLICT DO UPDATE over unnest()ed text arrays cast to the target's column types; a truncate flushes
/// what came before it and truncates. Missing tables (and columns) are created from the source schema with the key as
/// primary key. The sink's checkpoint is written in the same transaction (<c>pgrelay.sink_checkpoints</c>).
/// </summary>
public sealed class PostgresTarget : ISinkTarget, ITransactionalCheckpoint
{
    private const string CheckpointTable = "pgrelay.sink_checkpoints";

    private readonly string _connectionString;
    private readonly string _sink;
    private readonly string? _schema;
    private readonly Dictionary<SinkTable, TargetTable> _tables = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<SinkTable, PendingRows> _pending = new(ReferenceEqualityComparer.Instance);
    private NpgsqlConnection? _connection;

    /// <param name="target">postgres:// URL or connection string.</param>
    /// <param name="schema">Put every table into this schema instead of the (routed) source schema.</param>
    public PostgresTarget(string target, string sinkName, string? schema = null)
    {
        _connectionString = ConnectionStringFrom(target);
        _sink = sinkName;
        _schema = string.IsNullOrWhiteSpace(schema) ? null : schema;
    }

    public static string ConnectionStringFrom(string target) => PostgresUrl.ConnectionString(target, "pgrelay-sink");

    public async Task OpenAsync(CancellationToken ct)
    {
        await CloseAsync().ConfigureAwait(false);
        _tables.Clear();   // the target may have changed while we were away
        var connection = new NpgsqlConnection(_connectionString);
        await connection.OpenAsync(ct).ConfigureAwait(false);
        await using (var cmd = new NpgsqlCommand(
            $"CREATE SCHEMA IF NOT EXISTS pgrelay; CREATE TABLE IF NOT EXISTS {CheckpointTable} (sink text PRIMARY KEY, " +
            "end_lsn pg_lsn NOT NULL, commit_lsn pg_lsn NOT NULL, updated_at timestamptz NOT NULL DEFAULT now())", connection))
        {
            try { await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false); }
            catch (PostgresException e) when (e.SqlState is PostgresErrorCodes.UniqueViolation or PostgresErrorCodes.DuplicateObject)
            {
                // Two sinks creating it at the same moment: the other one won, which is just as good.
            }
        }
        _connection = connection;
    }

    public async Task<Lsn?> ReadCheckpointAsync(CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand($"SELECT end_lsn FROM {CheckpointTable} WHERE sink = @sink", Connection);
        cmd.Parameters.AddWithValue("sink", _sink);
        var value = await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false);
        return value is NpgsqlLogSequenceNumber lsn ? new Lsn((ulong)lsn) : null;
    }

    public async Task DeliverAsync(SinkBatch batch, CancellationToken ct)
    {
        var connection = Connection;
        _pending.Clear();
        await using var transaction = await connection.BeginTransactionAsync(ct).ConfigureAwait(false);
        if (batch.LoadStartTables is { } loading)
            foreach (var table in loading)
                await TruncateAsync(table, ct).ConfigureAwait(false);
        foreach (var e in batch.Events)
        {
            if (e.Table is not { } table) continue;   // transaction boundaries
            if (e.Op == EventOp.Truncate)
            {
                await FlushAsync(ct).ConfigureAwait(false);
                await TruncateAsync(table, ct).ConfigureAwait(false);
                continue;
            }
            if (!_pending.TryGetValue(table, out var rows))
            {
                // Rules may give one source table a different layout per operation: rows of another layout for the same
                // target table are written first, so the order of changes to a key survives.
                if (_pending.Keys.Any(t => t.Schema == table.Schema && t.Name == table.Name)) await FlushAsync(ct).ConfigureAwait(false);
                _pending[table] = rows = new PendingRows(table);
            }
            rows.Add(e);
        }
        await FlushAsync(ct).ConfigureAwait(false);
        if (batch.EndLsn is { } end)
        {
            var commit = batch.Events.Count > 0 ? batch.Events[^1].CommitLsn : end;
            await using var cmd = new NpgsqlCommand(
                $"INSERT INTO {CheckpointTable} (sink, end_lsn, commit_lsn, updated_at) VALUES (@sink, @end, @commit, now()) " +
                "ON CONFLICT (sink) DO UPDATE SET end_lsn = EXCLUDED.end_lsn, commit_lsn = EXCLUDED.commit_lsn, updated_at = now()", connection);
            cmd.Parameters.AddWithValue("sink", _sink);
            cmd.Parameters.Add(new NpgsqlParameter("end", NpgsqlDbType.PgLsn) { Value = new NpgsqlLogSequenceNumber(end.Value) });
            cmd.Parameters.Add(new NpgsqlParameter("commit", NpgsqlDbType.PgLsn) { Value = new NpgsqlLogSequenceNumber(commit.Value) });
            await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }
        await transaction.CommitAsync(ct).ConfigureAwait(false);
    }

    private NpgsqlConnection Connection => _connection ?? throw new InvalidOperationException("the target database is not connected");

    private async Task TruncateAsync(SinkTable table, CancellationToken ct)
    {
        _pending.Remove(table);
        var target = await TableAsync(table, ct).ConfigureAwait(false);
        await using var cmd = new NpgsqlCommand($"TRUNCATE {target.QualifiedName}", Connection);
        await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    private async Task FlushAsync(CancellationToken ct)
    {
        foreach (var rows in _pending.Values)
        {
            if (rows.Count == 0) continue;
            var target = await TableAsync(rows.Table, ct).ConfigureAwait(false);
            await WriteAsync(target, rows, ct).ConfigureAwait(false);
        }
        _pending.Clear();
    }

    private async Task WriteAsync(TargetTable target, PendingRows rows, CancellationToken ct)
    {
        var table = target.Table;
        int columns = table.Columns.Count;
        var keys = table.KeyColumns;
        var deleted = new List<string>[keys.Length];
        for (int j = 0; j < keys.Length; j++) deleted[j] = [];
        var upserts = new List<string?>[columns];
        for (int i = 0; i < columns; i++) upserts[i] = new List<string?>(rows.Count);
        List<SinkValue[]>? partial = null;
        foreach (var (key, row) in rows.Rows)
        {
            if (row is null)
            {
                var parts = key.Split('\0');
                for (int j = 0; j < keys.Length; j++) deleted[j].Add(parts[j]);
            }
            else if (PendingRows.IsComplete(row))
                for (int i = 0; i < columns; i++) upserts[i].Add(row[i].Text);
            else (partial ??= []).Add(row);
        }
        // Deletes first: a key deleted and one upserted are never the same key (the net effect per key is one or the other).
        if (deleted[0].Count > 0)
        {
            await using var cmd = new NpgsqlCommand(target.DeleteSql, Connection);
            for (int j = 0; j < keys.Length; j++)
                cmd.Parameters.Add(new NpgsqlParameter($"k{j}", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = deleted[j].ToArray() });
            await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }
        if (upserts.Length > 0 && upserts[0].Count > 0)
        {
            await using var cmd = new NpgsqlCommand(target.UpsertSql, Connection);
            for (int i = 0; i < columns; i++)
                cmd.Parameters.Add(new NpgsqlParameter($"p{i}", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = upserts[i].ToArray() });
            await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }
        foreach (var row in partial ?? [])
            await UpdateChangedColumnsAsync(target, row, ct).ConfigureAwait(false);
    }

    /// <summary>A replayed UPDATE whose unchanged TOAST columns no earlier event supplied: only the columns it carries are written.</summary>
    private async Task UpdateChangedColumnsAsync(TargetTable target, SinkValue[] row, CancellationToken ct)
    {
        var keys = target.Table.KeyColumns;
        var sets = new List<string>();
        await using var cmd = new NpgsqlCommand { Connection = Connection };
        for (int i = 0; i < row.Length; i++)
        {
            if (row[i].State == ColumnState.Unchanged || keys.Contains(i)) continue;
            sets.Add($"{target.Names[i]} = @v{i}::{target.Types[i]}");
            cmd.Parameters.Add(new NpgsqlParameter($"v{i}", NpgsqlDbType.Text) { Value = (object?)row[i].Text ?? DBNull.Value });
        }
        if (sets.Count == 0) return;
        for (int j = 0; j < keys.Length; j++)
            cmd.Parameters.Add(new NpgsqlParameter($"k{j}", NpgsqlDbType.Text) { Value = row[keys[j]].Text! });
        cmd.CommandText = $"UPDATE {target.QualifiedName} SET {string.Join(", ", sets)} WHERE {target.KeyCondition}";
        await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    /// <summary>The target table for a sink table: looked up once, created (or given missing columns) from the source schema.</summary>
    private async Task<TargetTable> TableAsync(SinkTable table, CancellationToken ct)
    {
        if (_tables.TryGetValue(table, out var known)) return known;
        var schema = _schema ?? table.Schema;
        var qualified = $"{SinkTable.Quote(schema)}.{SinkTable.Quote(table.Name)}";
        var existing = await ExistingColumnsAsync(qualified, ct).ConfigureAwait(false);
        var wanted = await TypeNamesAsync(table, ct).ConfigureAwait(false);
        if (existing is null)
        {
            var columns = table.Columns.Select((c, i) => $"{SinkTable.Quote(c.Name)} {wanted[i]}");
            var key = string.Join(", ", table.KeyColumns.Select(k => SinkTable.Quote(table.Columns[k].Name)));
            await ExecuteAsync($"CREATE SCHEMA IF NOT EXISTS {SinkTable.Quote(schema)}; " +
                $"CREATE TABLE IF NOT EXISTS {qualified} ({string.Join(", ", columns)}, PRIMARY KEY ({key}))", ct).ConfigureAwait(false);
            existing = table.Columns.Select((c, i) => (c.Name, wanted[i])).ToDictionary(x => x.Name, x => x.Item2);
        }
        else
        {
            for (int i = 0; i < table.Columns.Count; i++)
            {
                var name = table.Columns[i].Name;
                if (existing.ContainsKey(name)) continue;
                await ExecuteAsync($"ALTER TABLE {qualified} ADD COLUMN IF NOT EXISTS {SinkTable.Quote(name)} {wanted[i]}", ct).ConfigureAwait(false);
                existing[name] = wanted[i];
            }
        }
        // Casts use the target's own types: a table the user created with other (compatible) types keeps working.
        var types = table.Columns.Select(c => existing[c.Name]).ToList();
        var target = new TargetTable(table, schema, types);
        _tables[table] = target;
        return target;
    }

    private async Task<Dictionary<string, string>?> ExistingColumnsAsync(string qualified, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(
            "SELECT c.oid IS NOT NULL, a.attname, format_type(a.atttypid, a.atttypmod) FROM (SELECT to_regclass(@name) AS oid) c " +
            "LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped", Connection);
        cmd.Parameters.AddWithValue("name", qualified);
        await using var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        Dictionary<string, string>? columns = null;
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            if (!reader.GetBoolean(0)) return null;
            columns ??= new Dictionary<string, string>(StringComparer.Ordinal);
            if (!reader.IsDBNull(1)) columns[reader.GetString(1)] = reader.GetString(2);
        }
        return columns;
    }

    /// <summary>SQL type names for the sink's columns; types the target cannot know (user-defined, OID ≥ 16384) become text.</summary>
    private async Task<List<string>> TypeNamesAsync(SinkTable table, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(
            "SELECT CASE WHEN o < 16384 THEN format_type(o, NULLIF(m, -1)) ELSE 'text' END FROM unnest(@oids::oid[], @mods::int4[]) WITH ORDINALITY AS x(o, m, n) ORDER BY n",
            Connection);
        cmd.Parameters.Add(new NpgsqlParameter("oids", NpgsqlDbType.Array | NpgsqlDbType.Oid) { Value = table.Columns.Select(c => c.TypeOid).ToArray() });
        cmd.Parameters.Add(new NpgsqlParameter("mods", NpgsqlDbType.Array | NpgsqlDbType.Integer) { Value = table.Columns.Select(c => c.TypeModifier).ToArray() });
        var names = new List<string>(table.Columns.Count);
        await using var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await reader.ReadAsync(ct).ConfigureAwait(false)) names.Add(reader.GetString(0));
        return names;
    }

    private async Task ExecuteAsync(string sql, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(sql, Connection);
        await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    private async Task CloseAsync()
    {
        if (_connection is null) return;
        try { await _connection.DisposeAsync().ConfigureAwait(false); } catch (Exception) { /* already broken */ }
        _connection = null;
    }

    public async ValueTask DisposeAsync() => await CloseAsync().ConfigureAwait(false);
}
