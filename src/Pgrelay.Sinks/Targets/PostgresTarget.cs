using System.Buffers;
using Npgsql;
using NpgsqlTypes;
using Pgrelay.Core.Model;
using Pgrelay.Core.Rows;
using Pgrelay.Postgres;
using Pgrelay.Sinks.Events;

namespace Pgrelay.Sinks.Targets;

/// <summary>
/// Keeps tables in a target PostgreSQL database equal to the source's (after rules). Each batch is one target
/// transaction: per table, the batch's net effect per key (<see cref="PendingRows"/>) becomes one DELETE and one
/// INSERT ... ON CONFLICT DO UPDATE over unnest()ed text arrays cast to the target's column types; a truncate flushes
/// what came before it and truncates. Missing tables (and columns) are created from the source schema with the key as
/// primary key. The sink's checkpoint is written in the same transaction (<c>pgrelay.sink_checkpoints</c>).
/// Initial loads go in with COPY instead: the load truncated the table, so its rows are new keys (see <see cref="_loading"/>).
/// Statements are pipelined: BEGIN, the writes, the checkpoint and COMMIT go out as one batch, so a streamed delivery costs
/// one round trip to the target (plus two per COPY and one per table seen for the first time).
/// </summary>
public sealed class PostgresTarget : ISinkTarget, ITransactionalCheckpoint
{
    private const string CheckpointTable = "pgrelay.sink_checkpoints";

    private readonly string _connectionString;
    private readonly string _sink;
    private readonly string? _schema;
    private readonly Dictionary<SinkTable, TargetTable> _tables = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<SinkTable, PendingRows> _pending = new(ReferenceEqualityComparer.Instance);
    /// <summary>
    /// Tables this connection truncated for an initial load that is still going on: its slices COPY rows in instead of
    /// upserting them (COPY is several times cheaper for the target). Forgotten at the load's last slice and on reconnect
    /// (a retried slice may find its rows committed already); a key that is there anyway (rules routing two tables into
    /// one) rolls the COPY back to a savepoint and upserts.
    /// </summary>
    private readonly HashSet<SinkTable> _loading = new(ReferenceEqualityComparer.Instance);
    /// <summary>A load slice's rows for tables in <see cref="_loading"/>, in load order, to be copied in.</summary>
    private readonly Dictionary<SinkTable, List<SinkValue[]>> _copies = new(ReferenceEqualityComparer.Instance);
    private readonly ArrayBufferWriter<byte> _copyBuffer = new(1 << 16);
    /// <summary>Statements of the current delivery not sent yet (see <see cref="Queue"/>).</summary>
    private NpgsqlBatch? _queued;
    private NpgsqlConnection? _connection;

    /// <param name="target">postgres:// URL or connection string.</param>
    /// <param name="schema">Put every table into this schema instead of the (routed) source schema.</param>
    public PostgresTarget(string target, string sinkName, string? schema = null)
    {
        _connectionString = ConnectionStringFrom(target);
        _sink = sinkName;
        _schema = string.IsNullOrWhiteSpace(schema) ? null : schema;
    }

    /// <summary>The target's connection string, with the source side's session settings so values are written back in the
    /// form they were read.</summary>
    /// <exception cref="FormatException">The target is neither a valid postgres:// URL nor a connection string.</exception>
    public static string ConnectionStringFrom(string target) =>
        PostgresConnectionString.ForSessions(PostgresConnectionString.Parse(target), "pgrelay-sink").ConnectionString;

    public async Task OpenAsync(CancellationToken ct)
    {
        await CloseAsync().ConfigureAwait(false);
        _tables.Clear();   // the target may have changed while we were away
        _loading.Clear();
        var connection = new NpgsqlConnection(_connectionString);
        try
        {
            await connection.OpenAsync(ct).ConfigureAwait(false);
        }
        catch (NpgsqlException e)
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            // Npgsql says only that the certificate was rejected; the sink's status and log line say why.
            var reason = await ServerCertificateDiagnosis.ExplainAsync(new NpgsqlConnectionStringBuilder(_connectionString), e, ct).ConfigureAwait(false);
            if (reason is null) throw;
            throw new NpgsqlException("cannot connect to the target: " + reason);
        }
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
        _pending.Clear();
        _copies.Clear();
        _queued = null;
        try
        {
            await DeliverCoreAsync(batch, ct).ConfigureAwait(false);
        }
        catch
        {
            _queued = null;
            // The runner reconnects before it retries; until then nothing must stay half done in an open transaction.
            try { await ExecuteAsync("ROLLBACK", CancellationToken.None).ConfigureAwait(false); } catch (Exception) { /* broken: reconnect */ }
            throw;
        }
        if (batch.EndLsn is not null) _loading.Clear();   // the load's last slice (or a streamed batch): upserts from now on
    }

    private async Task DeliverCoreAsync(SinkBatch batch, CancellationToken ct)
    {
        Queue("BEGIN");
        if (batch.LoadStartTables is { } loading)
            foreach (var table in loading)
            {
                await TruncateAsync(table, ct).ConfigureAwait(false);
                _loading.Add(table);
            }
        foreach (var e in batch.Events)
        {
            if (e.Table is not { } table) continue;   // transaction boundaries
            if (e.Op == EventOp.Read && _loading.Contains(table) && e.After is { } loaded && PendingRows.IsComplete(loaded))
            {
                // A load's rows are one per key already: no net-effect bookkeeping, straight into COPY.
                if (!_copies.TryGetValue(table, out var copy)) _copies[table] = copy = new List<SinkValue[]>(batch.Events.Count);
                copy.Add(loaded);
                continue;
            }
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
        foreach (var (table, copy) in _copies)
        {
            var target = await TableAsync(table, ct).ConfigureAwait(false);
            if (await TryCopyAsync(target, copy, ct).ConfigureAwait(false)) continue;
            var rows = new PendingRows(table);
            foreach (var row in copy) rows.Add(row);
            Write(target, rows);
        }
        if (batch.EndLsn is { } end)
        {
            var commit = batch.Events.Count > 0 ? batch.Events[^1].CommitLsn : end;
            Queue($"INSERT INTO {CheckpointTable} (sink, end_lsn, commit_lsn, updated_at) VALUES ($1, $2, $3, now()) " +
                  "ON CONFLICT (sink) DO UPDATE SET end_lsn = EXCLUDED.end_lsn, commit_lsn = EXCLUDED.commit_lsn, updated_at = now()",
                new NpgsqlParameter { Value = _sink },
                new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.PgLsn, Value = new NpgsqlLogSequenceNumber(end.Value) },
                new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.PgLsn, Value = new NpgsqlLogSequenceNumber(commit.Value) });
        }
        Queue("COMMIT");
        await SendQueuedAsync(ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Adds a statement (named @x or positional $1 parameters) to the delivery's pipeline. Everything queued goes out in order, in one
    /// round trip, before any statement that has to run on its own (table lookups, COPY) and at the end.
    /// </summary>
    private void Queue(string sql, params NpgsqlParameter[] parameters)
    {
        _queued ??= new NpgsqlBatch(Connection);
        var command = new NpgsqlBatchCommand(sql);
        foreach (var p in parameters) command.Parameters.Add(p);
        _queued.BatchCommands.Add(command);
    }

    private async Task SendQueuedAsync(CancellationToken ct)
    {
        if (_queued is not { } batch) return;
        _queued = null;
        await using (batch.ConfigureAwait(false)) await batch.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    private NpgsqlConnection Connection => _connection ?? throw new InvalidOperationException("the target database is not connected");

    private async Task TruncateAsync(SinkTable table, CancellationToken ct)
    {
        _pending.Remove(table);
        var target = await TableAsync(table, ct).ConfigureAwait(false);
        Queue($"TRUNCATE {target.QualifiedName}");
    }

    private async Task FlushAsync(CancellationToken ct)
    {
        foreach (var rows in _pending.Values)
        {
            if (rows.Count == 0) continue;
            var target = await TableAsync(rows.Table, ct).ConfigureAwait(false);
            Write(target, rows);
        }
        _pending.Clear();
    }

    private void Write(TargetTable target, PendingRows rows)
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
            Queue(target.DeleteSql, deleted.Select((d, j) => new NpgsqlParameter($"k{j}", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = d.ToArray() }).ToArray());
        if (upserts.Length > 0 && upserts[0].Count > 0)
            Queue(target.UpsertSql, upserts.Select((u, i) => new NpgsqlParameter($"p{i}", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = u.ToArray() }).ToArray());
        foreach (var row in partial ?? [])
            UpdateChangedColumns(target, row);
    }

    /// <summary>
    /// COPYs the rows of a load slice into the table. False (and nothing written) when a key is already there: the caller
    /// upserts instead.
    /// </summary>
    private async Task<bool> TryCopyAsync(TargetTable target, List<SinkValue[]> rows, CancellationToken ct)
    {
        Queue("SAVEPOINT pgrelay_copy");
        await SendQueuedAsync(ct).ConfigureAwait(false);
        try
        {
            var writer = (StreamWriter)await Connection.BeginTextImportAsync(target.CopySql, ct).ConfigureAwait(false);
            await using (writer.ConfigureAwait(false))
            {
                // The rows' UTF-8 bytes go straight to the COPY stream; the writer's own (char) side stays unused.
                var stream = writer.BaseStream;
                _copyBuffer.ResetWrittenCount();
                foreach (var row in rows)
                {
                    PostgresCopyText.AppendRow(_copyBuffer, row);
                    if (_copyBuffer.WrittenCount < 1 << 16) continue;
                    await stream.WriteAsync(_copyBuffer.WrittenMemory, ct).ConfigureAwait(false);
                    _copyBuffer.ResetWrittenCount();
                }
                await stream.WriteAsync(_copyBuffer.WrittenMemory, ct).ConfigureAwait(false);
                _copyBuffer.ResetWrittenCount();
            }
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UniqueViolation)
        {
            Queue("ROLLBACK TO SAVEPOINT pgrelay_copy");
            _loading.Remove(target.Table);
            return false;
        }
        Queue("RELEASE SAVEPOINT pgrelay_copy");
        return true;
    }

    /// <summary>A replayed UPDATE whose unchanged TOAST columns no earlier event supplied: only the columns it carries are written.</summary>
    private void UpdateChangedColumns(TargetTable target, SinkValue[] row)
    {
        var keys = target.Table.KeyColumns;
        var sets = new List<string>();
        var parameters = new List<NpgsqlParameter>();
        for (int i = 0; i < row.Length; i++)
        {
            if (row[i].State == ColumnState.Unchanged || keys.Contains(i)) continue;
            sets.Add($"{target.Names[i]} = @v{i}::{target.Types[i]}");
            parameters.Add(new NpgsqlParameter($"v{i}", NpgsqlDbType.Text) { Value = (object?)row[i].Text ?? DBNull.Value });
        }
        if (sets.Count == 0) return;
        for (int j = 0; j < keys.Length; j++)
            parameters.Add(new NpgsqlParameter($"k{j}", NpgsqlDbType.Text) { Value = row[keys[j]].Text! });
        Queue($"UPDATE {target.QualifiedName} SET {string.Join(", ", sets)} WHERE {target.KeyCondition}", [.. parameters]);
    }

    /// <summary>The target table for a sink table: looked up once, created (or given missing columns) from the source schema.</summary>
    private async Task<TargetTable> TableAsync(SinkTable table, CancellationToken ct)
    {
        if (_tables.TryGetValue(table, out var known)) return known;
        await SendQueuedAsync(ct).ConfigureAwait(false);   // the lookups run in the delivery's transaction, after what came before
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
