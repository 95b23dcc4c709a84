using System.Buffers;
using Npgsql;
using NpgsqlTypes;
using Pgrelay.Core.Model;
using Pgrelay.Core.Rows;
using Pgrelay.Postgres;
using Pgrelay.Sinks.Delivery;
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
    /// <summary>The segment's changes to multiset tables (no primary key), in order: they cannot be netted per key.</summary>
    private readonly Dictionary<SinkTable, List<ChangeEvent>> _multisets = new(ReferenceEqualityComparer.Instance);
    /// <summary>Target rows the segment's partial events need (see <see cref="ReadTargetRowsAsync"/>), per table and key.</summary>
    private readonly Dictionary<SinkTable, Dictionary<string, SinkValue[]?>> _targetRows = new(ReferenceEqualityComparer.Instance);
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
    /// <summary>The delivery's <see cref="SinkBatch.StoreRows"/>.</summary>
    private Func<SinkTable, IEnumerable<SinkValue[]>>? _storeRows;
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
        _multisets.Clear();
        _targetRows.Clear();
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
        _storeRows = batch.StoreRows;
        Queue("BEGIN");
        if (batch.LoadStartTables is { } loading)
            foreach (var table in loading)
            {
                await TruncateAsync(table, ct).ConfigureAwait(false);
                _loading.Add(table);
            }
        if (batch.LoadWrittenTables is { } written)
            foreach (var table in written.Where(w => batch.LoadStartTables?.Any(w.SameName) != true).DistinctBy(w => (w.Schema, w.Name)))
                await TruncateWrittenAsync(table, ct).ConfigureAwait(false);
        var events = batch.Events;
        // Replayed events may be given their old key below: the batch itself stays as it came, for a retry.
        if (events.Exists(e => e.Replayed)) events = [.. events];
        for (int i = 0; i < events.Count;)
        {
            if (events[i] is { Op: EventOp.Truncate, Table: { } truncated })
            {
                await TruncateAsync(truncated, ct).ConfigureAwait(false);
                i++;
                continue;
            }
            if (events[i].Op == EventOp.Relation)
            {
                await AlterAsync(events[i++], ct).ConfigureAwait(false);
                continue;
            }
            // A segment: events whose keyed rows can be netted together and written at its end.
            int segmentEnd = SegmentEnd(events, i);
            await FindOldKeysAsync(events, i, segmentEnd, ct).ConfigureAwait(false);
            await ReadTargetRowsAsync(events, i, segmentEnd, ct).ConfigureAwait(false);
            for (; i < segmentEnd; i++) await AddAsync(events[i], ct).ConfigureAwait(false);
            await FlushAsync(ct).ConfigureAwait(false);
        }
        foreach (var (table, copy) in _copies)
        {
            var target = await TableAsync(table, ct).ConfigureAwait(false);
            if (await TryCopyAsync(target, copy, ct).ConfigureAwait(false)) continue;
            if (table.IsMultiset)
            {
                // Rows are no keys here: identical rows are copies and a NULL is a value. Only the target's own unique
                // index refuses a COPY of them, and it refuses the inserts too: a failure shown, never rows dropped.
                WriteInserts(target, copy);
                continue;
            }
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

    public bool WantsSchemaChanges => true;

    /// <summary>
    /// Mirrors an ALTER TABLE of the source onto the target table, inside the delivery's transaction, column by name:
    /// columns whose name is gone are dropped, a changed type is converted through the values' text (how they arrived),
    /// and new names are added. Live, the store's reload of the table follows with every row in the new shape, so added
    /// columns are filled (a constant or volatile default alike) and a rename is a drop and an add filled again. A replay
    /// has no reload rows: added columns are filled from the store. A table not created yet is created in the new shape
    /// by its next row.
    /// </summary>
    private async Task AlterAsync(ChangeEvent e, CancellationToken ct)
    {
        var table = e.Table!;
        var qualified = $"{SinkTable.Quote(_schema ?? table.Schema)}.{SinkTable.Quote(table.Name)}";
        await SendQueuedAsync(ct).ConfigureAwait(false);
        var existing = await ExistingColumnsAsync(qualified, ct).ConfigureAwait(false);
        if (existing is null) return;
        var wanted = await TypeNamesAsync(table, ct).ConfigureAwait(false);
        var columns = table.Columns;
        var statements = new List<string>();
        if (e is { PreviousTable: { } before, PreviousColumns: { } continues } && before.Schema == table.Schema && before.Name == table.Name)
        {
            for (int i = 0; i < before.Columns.Count; i++)
            {
                var old = before.Columns[i].Name;
                if (!continues.Contains(i) && existing.Remove(old)) statements.Add($"DROP COLUMN {SinkTable.Quote(old)}");
            }
            for (int i = 0; i < columns.Count; i++)
            {
                if (continues[i] < 0) continue;
                var from = before.Columns[continues[i]];
                var name = columns[i].Name;
                if ((from.TypeOid != columns[i].TypeOid || from.TypeModifier != columns[i].TypeModifier)
                    && existing.TryGetValue(name, out var has) && has != wanted[i])
                {
                    statements.Add($"ALTER COLUMN {SinkTable.Quote(name)} TYPE {wanted[i]} USING {SinkTable.Quote(name)}::text::{wanted[i]}");
                    existing[name] = wanted[i];
                }
            }
        }
        List<int>? unknown = null;
        for (int i = 0; i < columns.Count; i++)
        {
            var name = columns[i].Name;
            if (existing.ContainsKey(name)) continue;
            existing[name] = wanted[i];
            statements.Add($"ADD COLUMN {SinkTable.Quote(name)} {wanted[i]}");
            // Live, the store's reload follows with every row in the new shape, the column's values included. A replay
            // (or an old shape this run never saw) has no such rows: what existing rows hold comes from the store.
            if (e.Replayed || e.PreviousTable is null) (unknown ??= []).Add(i);
        }
        // Cached statements carry the old columns and casts: every layout of this target table is looked up again.
        foreach (var known in _tables.Where(t => t.Value.QualifiedName == qualified).Select(t => t.Key).ToList()) _tables.Remove(known);
        if (statements.Count == 0) return;
        // One statement per ALTER: PostgreSQL runs the actions of one ALTER TABLE together, and a RENAME must stand alone.
        foreach (var statement in statements) Queue($"ALTER TABLE {qualified} {statement}");
        await ConvertAsync(null, table, qualified, ct).ConfigureAwait(false);
        if (unknown is not null) await FillAddedColumnsAsync(await TableAsync(table, ct).ConfigureAwait(false), unknown, ct).ConfigureAwait(false);
    }

    /// <summary>Runs <paramref name="sql"/> (or what is queued): a conversion the values' text form cannot do is a permanent failure that says why.</summary>
    private async Task ConvertAsync(string? sql, SinkTable table, string qualified, CancellationToken ct)
    {
        try
        {
            if (sql is null) await SendQueuedAsync(ct).ConfigureAwait(false);
            else await ExecuteAsync(sql, ct).ConfigureAwait(false);
        }
        catch (PostgresException x) when (x.SqlState.StartsWith("22", StringComparison.Ordinal))
        {
            throw new SinkPermanentException(
                $"cannot mirror the new shape of {table} onto {qualified} ({x.SqlState}: {x.MessageText}): the source converted values with " +
                "its own USING expression, which the target cannot know; convert the target column by hand and the sink goes on", x);
        }
    }

    /// <summary>A value as an SQL string literal (DDL takes no parameters): quoted by the server, which knows its own rules.</summary>
    private async Task<string> LiteralAsync(string value, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand("SELECT quote_literal(@v)", Connection);
        cmd.Parameters.AddWithValue("v", value);
        return (string)(await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false))!;
    }

    private async Task TruncateAsync(SinkTable table, CancellationToken ct)
    {
        var target = await TableAsync(table, ct).ConfigureAwait(false);
        Queue($"TRUNCATE {target.QualifiedName}");
    }

    /// <summary>A table the sink wrote before and does not load now: emptied if it is still there (nothing is created).</summary>
    private async Task TruncateWrittenAsync(WrittenTable table, CancellationToken ct)
    {
        await SendQueuedAsync(ct).ConfigureAwait(false);   // the lookup runs in the delivery's transaction, after what came before
        var qualified = $"{SinkTable.Quote(_schema ?? table.Schema)}.{SinkTable.Quote(table.Name)}";
        if (await ExistingTableAsync(qualified, ct).ConfigureAwait(false) is not null) Queue($"TRUNCATE {qualified}");
    }

    /// <summary>
    /// Where the segment starting at <paramref name="start"/> ends: before a truncate, or before an event for a target
    /// table the segment already has rows of in another layout (rules may give one source table a different layout per
    /// operation; the earlier rows are written first, so the order of changes to a key survives).
    /// </summary>
    private static int SegmentEnd(List<ChangeEvent> events, int start)
    {
        var layouts = new Dictionary<(string, string), SinkTable>();
        for (int i = start; i < events.Count; i++)
        {
            if (events[i].Table is not { } table) continue;   // transaction boundaries
            if (events[i].Op is EventOp.Truncate or EventOp.Relation) return i;
            if (layouts.TryGetValue((table.Schema, table.Name), out var seen) && !ReferenceEquals(seen, table)) return i;
            layouts[(table.Schema, table.Name)] = table;
        }
        return events.Count;
    }

    private async ValueTask AddAsync(ChangeEvent e, CancellationToken ct)
    {
        if (e.Table is not { } table) return;   // transaction boundaries
        if (e.Op == EventOp.Read && _loading.Contains(table) && e.After is { } loaded && PendingRows.IsComplete(loaded))
        {
            // A load's rows are one per key already: no net-effect bookkeeping, straight into COPY.
            if (!_copies.TryGetValue(table, out var copy)) _copies[table] = copy = [];
            copy.Add(loaded);
            return;
        }
        if (table.IsMultiset)
        {
            (_multisets.TryGetValue(table, out var changes) ? changes : _multisets[table] = []).Add(e);
            return;
        }
        if (!_pending.TryGetValue(table, out var rows))
        {
            _pending[table] = rows = new PendingRows(table);
            if (_targetRows.TryGetValue(table, out var known)) rows.TargetRow = key => known.GetValueOrDefault(key);
        }
        await rows.AddAsync(e, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Gives replayed events of tables with an identity index on other columns the old key they lack (see
    /// <see cref="IdentityKeys"/>), from the target's rows (one query per table), so that a delete or a key change removes
    /// the row the target holds under the old key.
    /// </summary>
    private async Task FindOldKeysAsync(List<ChangeEvent> events, int start, int end, CancellationToken ct)
    {
        Dictionary<SinkTable, (IdentityKeys Keys, HashSet<string> Wanted)>? tables = null;
        for (int i = start; i < end; i++)
        {
            if (!events[i].Replayed || events[i].Table is not { } table) continue;
            tables ??= new(ReferenceEqualityComparer.Instance);
            if (!tables.TryGetValue(table, out var found))
            {
                if (IdentityKeys.For(table) is not { } keys) continue;
                tables[table] = found = (keys, new HashSet<string>(StringComparer.Ordinal));
            }
            if (found.Keys.Needed(events[i]) is { } identity) found.Wanted.Add(identity);
        }
        if (tables is null || tables.Values.All(t => t.Wanted.Count == 0)) return;
        foreach (var (table, (keys, wanted)) in tables)
        {
            if (wanted.Count == 0) continue;
            var target = await TableAsync(table, ct).ConfigureAwait(false);
            await SendQueuedAsync(ct).ConfigureAwait(false);
            var identity = keys.Columns;
            var names = target.Names;
            var sql = $"SELECT {string.Join(", ", table.KeyColumns.Concat(identity).Select(c => $"t.{names[c]}::text"))} " +
                      $"FROM {target.QualifiedName} AS t JOIN unnest({string.Join(", ", identity.Select((_, j) => $"@i{j}::text[]"))}) " +
                      $"AS s({string.Join(", ", identity.Select((_, j) => $"i{j}"))}) ON " +
                      string.Join(" AND ", identity.Select((c, j) => $"t.{names[c]} = s.i{j}::{target.Types[c]}"));
            await using var cmd = new NpgsqlCommand(sql, Connection);
            var parts = wanted.Select(w => w.Split('\0')).ToList();
            for (int j = 0; j < identity.Length; j++)
                cmd.Parameters.Add(new NpgsqlParameter($"i{j}", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = parts.Select(p => p[j]).ToArray() });
            await using var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            int k = table.KeyColumns.Length;
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                var key = new string[k];
                for (int j = 0; j < k; j++) key[j] = reader.GetString(j);
                keys.Known(string.Join('\0', Enumerable.Range(k, identity.Length).Select(reader.GetString)), key);
            }
        }
        for (int i = start; i < end; i++)
            if (events[i].Table is { } table && tables.TryGetValue(table, out var found))
                events[i] = found.Keys.Resolve(events[i]);
    }

    /// <summary>
    /// Reads, in one query per table, the target rows that partial events of the segment need (their old rows, to carry
    /// the values they lack over from). The delivery's own earlier writes are sent first: the reads see them.
    /// </summary>
    private async Task ReadTargetRowsAsync(List<ChangeEvent> events, int start, int end, CancellationToken ct)
    {
        _targetRows.Clear();
        Dictionary<SinkTable, HashSet<string>>? wanted = null;
        for (int i = start; i < end; i++)
        {
            var e = events[i];
            if (!e.Partial || e.Table is not { IsMultiset: false } table) continue;
            var keys = new PendingRows(table).KeysNeeded(e);
            foreach (var key in keys)
            {
                wanted ??= new(ReferenceEqualityComparer.Instance);
                (wanted.TryGetValue(table, out var set) ? set : wanted[table] = new HashSet<string>(StringComparer.Ordinal)).Add(key);
            }
        }
        if (wanted is null) return;
        foreach (var (table, keys) in wanted)
        {
            var target = await TableAsync(table, ct).ConfigureAwait(false);
            await SendQueuedAsync(ct).ConfigureAwait(false);
            var columns = new List<string>[table.KeyColumns.Length];
            for (int j = 0; j < columns.Length; j++) columns[j] = new List<string>(keys.Count);
            foreach (var key in keys)
            {
                var parts = key.Split('\0');
                for (int j = 0; j < columns.Length; j++) columns[j].Add(parts[j]);
            }
            await using var cmd = new NpgsqlCommand(target.SelectByKeysSql, Connection);
            for (int j = 0; j < columns.Length; j++)
                cmd.Parameters.Add(new NpgsqlParameter($"k{j}", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = columns[j].ToArray() });
            var rows = new Dictionary<string, SinkValue[]?>(StringComparer.Ordinal);
            var keyOf = new PendingRows(table);
            await using (var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false))
                while (await reader.ReadAsync(ct).ConfigureAwait(false))
                {
                    var row = new SinkValue[table.Columns.Count];
                    for (int c = 0; c < row.Length; c++)
                        row[c] = reader.IsDBNull(c) ? SinkValue.Null : new SinkValue(ColumnState.Value, System.Text.Encoding.UTF8.GetBytes(reader.GetString(c)));
                    if (keyOf.KeyOf(row) is { } key) rows[key] = row;
                }
            _targetRows[table] = rows;
        }
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
        foreach (var (table, changes) in _multisets)
        {
            var target = await TableAsync(table, ct).ConfigureAwait(false);
            WriteMultiset(target, changes);
        }
        _multisets.Clear();
        _targetRows.Clear();
    }

    /// <summary>
    /// A multiset's changes in order: runs of inserts as one INSERT, each delete and update on exactly one row equal to the
    /// old row (an update with no such row inserts, as a keyed upsert would).
    /// </summary>
    private void WriteMultiset(TargetTable target, List<ChangeEvent> changes)
    {
        var inserts = new List<SinkValue[]>();
        void FlushInserts()
        {
            WriteInserts(target, inserts);
            inserts.Clear();
        }
        NpgsqlParameter[] Row(string prefix, SinkValue[] row) =>
            row.Select((v, i) => new NpgsqlParameter($"{prefix}{i}", NpgsqlDbType.Text) { Value = (object?)v.Text ?? DBNull.Value }).ToArray();
        foreach (var e in changes)
        {
            switch (e.Op)
            {
                case EventOp.Insert or EventOp.Read when e.After is { } row:
                    inserts.Add(row);
                    break;
                case EventOp.Delete when e.Before is { } old:
                    FlushInserts();
                    Queue(target.DeleteOneSql, Row("w", old));
                    break;
                case EventOp.Update when e.Before is { } old && e.After is { } row:
                    FlushInserts();
                    Queue(target.UpdateOneSql, [.. Row("w", old), .. Row("v", row)]);
                    break;
                case EventOp.Update when e.After is { } row:   // the old row is unknown: never for REPLICA IDENTITY FULL
                    inserts.Add(row);
                    break;
            }
        }
        FlushInserts();
    }

    /// <summary>Inserts the rows as they are, in one statement.</summary>
    private void WriteInserts(TargetTable target, List<SinkValue[]> rows)
    {
        if (rows.Count == 0) return;
        int columns = target.Table.Columns.Count;
        var values = new string?[columns][];
        for (int i = 0; i < columns; i++) values[i] = rows.Select(r => r[i].Text).ToArray();
        Queue(target.InsertSql, values.Select((v, i) => new NpgsqlParameter($"p{i}", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = v }).ToArray());
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
        foreach (var (key, row) in rows.Rows)
        {
            if (row is null)
            {
                var parts = key.Split('\0');
                for (int j = 0; j < keys.Length; j++) deleted[j].Add(parts[j]);
            }
            else
                for (int i = 0; i < columns; i++) upserts[i].Add(row[i].Text);
        }
        // Deletes first: a key deleted and one upserted are never the same key (the net effect per key is one or the other).
        if (deleted[0].Count > 0)
            Queue(target.DeleteSql, deleted.Select((d, j) => new NpgsqlParameter($"k{j}", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = d.ToArray() }).ToArray());
        if (upserts.Length > 0 && upserts[0].Count > 0)
            Queue(target.UpsertSql, upserts.Select((u, i) => new NpgsqlParameter($"p{i}", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = u.ToArray() }).ToArray());
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

    /// <summary>The target table for a sink table: looked up once, created (or given missing columns) from the source schema.</summary>
    private async Task<TargetTable> TableAsync(SinkTable table, CancellationToken ct)
    {
        if (_tables.TryGetValue(table, out var known)) return known;
        await SendQueuedAsync(ct).ConfigureAwait(false);   // the lookups run in the delivery's transaction, after what came before
        var schema = _schema ?? table.Schema;
        var qualified = $"{SinkTable.Quote(schema)}.{SinkTable.Quote(table.Name)}";
        var found = await ExistingTableAsync(qualified, ct).ConfigureAwait(false);
        var existing = found?.Columns;
        var wanted = await TypeNamesAsync(table, ct).ConfigureAwait(false);
        bool created = existing is null;
        if (existing is null)
        {
            var columns = table.Columns.Select((c, i) => $"{SinkTable.Quote(c.Name)} {wanted[i]}");
            // A multiset gets no primary key: it may hold duplicates and NULLs, as the source does.
            var key = table.IsMultiset ? "" : ", PRIMARY KEY (" + string.Join(", ", table.KeyColumns.Select(k => SinkTable.Quote(table.Columns[k].Name))) + ")";
            await ExecuteAsync($"CREATE SCHEMA IF NOT EXISTS {SinkTable.Quote(schema)}; " +
                $"CREATE TABLE IF NOT EXISTS {qualified} ({string.Join(", ", columns)}{key}); " +
                $"COMMENT ON TABLE {qualified} IS '{CreatedMark}'", ct).ConfigureAwait(false);
            existing = table.Columns.Select((c, i) => (c.Name, wanted[i])).ToDictionary(x => x.Name, x => x.Item2);
        }
        List<int>? added = null;
        if (!created)
        {
            for (int i = 0; i < table.Columns.Count; i++)
            {
                var name = table.Columns[i].Name;
                if (existing.ContainsKey(name)) continue;
                await ExecuteAsync($"ALTER TABLE {qualified} ADD COLUMN IF NOT EXISTS {SinkTable.Quote(name)} {wanted[i]}", ct).ConfigureAwait(false);
                existing[name] = wanted[i];
                (added ??= []).Add(i);
            }
            // A table this sink created follows the source's types, also when the ALTER came without a relation event (a
            // replay that began after it); the types of a table someone else created are theirs (compatible ones work).
            if (found is { Ours: true })
                for (int i = 0; i < table.Columns.Count; i++)
                {
                    var name = SinkTable.Quote(table.Columns[i].Name);
                    if (existing[table.Columns[i].Name] == wanted[i]) continue;
                    await ConvertAsync($"ALTER TABLE {qualified} ALTER COLUMN {name} TYPE {wanted[i]} USING {name}::text::{wanted[i]}", table, qualified, ct)
                        .ConfigureAwait(false);
                    existing[table.Columns[i].Name] = wanted[i];
                }
        }
        // Casts use the target's own types: a table the user created with other (compatible) types keeps working.
        var types = table.Columns.Select(c => existing[c.Name]).ToList();
        var target = new TargetTable(table, schema, types);
        _tables[table] = target;
        if (added is not null) await FillAddedColumnsAsync(target, added, ct).ConfigureAwait(false);
        return target;
    }

    /// <summary>
    /// The table lacked columns and no relation event said what its rows hold in them (a replay that began after the
    /// ALTER TABLE, or a table created by hand): the existing rows take them from pgrelay's store, by key. A row the
    /// store no longer has keeps NULL until the change that removed it from the source arrives, later in the feed. A
    /// table without a key cannot be matched row by row and keeps NULL.
    /// </summary>
    private async Task FillAddedColumnsAsync(TargetTable target, List<int> added, CancellationToken ct)
    {
        var table = target.Table;
        if (_storeRows is null || table.IsMultiset) return;
        var keys = table.KeyColumns;
        var values = new List<string?>[keys.Length + added.Count];
        for (int i = 0; i < values.Length; i++) values[i] = [];
        foreach (var row in _storeRows(table))
        {
            for (int j = 0; j < keys.Length; j++) values[j].Add(row[keys[j]].Text);
            for (int a = 0; a < added.Count; a++) values[keys.Length + a].Add(row[added[a]].Text);
        }
        if (values[0].Count == 0) return;
        var names = target.Names;
        var sql = $"UPDATE {target.QualifiedName} AS t SET " +
                  string.Join(", ", added.Select((c, a) => $"{names[c]} = s.a{a}::{target.Types[c]}")) +
                  $" FROM unnest({string.Join(", ", keys.Select((_, j) => $"@k{j}::text[]").Concat(added.Select((_, a) => $"@a{a}::text[]")))}) " +
                  $"AS s({string.Join(", ", keys.Select((_, j) => $"k{j}").Concat(added.Select((_, a) => $"a{a}")))}) WHERE " +
                  string.Join(" AND ", keys.Select((k, j) => $"t.{names[k]} = s.k{j}::{target.Types[k]}"));
        Queue(sql, values.Select((v, i) => new NpgsqlParameter(i < keys.Length ? $"k{i}" : $"a{i - keys.Length}", NpgsqlDbType.Array | NpgsqlDbType.Text)
        {
            Value = v.ToArray(),
        }).ToArray());
        await SendQueuedAsync(ct).ConfigureAwait(false);
    }

    /// <summary>Marks the tables this sink created (a table comment): their column types follow the source's.</summary>
    private const string CreatedMark = "pgrelay sink mirror";

    /// <summary>A table's columns (name → type) and whether this sink created it; null when there is no such table.</summary>
    private async Task<Dictionary<string, string>?> ExistingColumnsAsync(string qualified, CancellationToken ct) =>
        (await ExistingTableAsync(qualified, ct).ConfigureAwait(false))?.Columns;

    private async Task<(Dictionary<string, string> Columns, bool Ours)?> ExistingTableAsync(string qualified, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(
            "SELECT c.oid IS NOT NULL, a.attname, format_type(a.atttypid, a.atttypmod), obj_description(c.oid, 'pg_class') = @mark " +
            "FROM (SELECT to_regclass(@name) AS oid) c LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped",
            Connection);
        cmd.Parameters.AddWithValue("name", qualified);
        cmd.Parameters.AddWithValue("mark", CreatedMark);
        await using var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        Dictionary<string, string>? columns = null;
        bool ours = false;
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            if (!reader.GetBoolean(0)) return null;
            columns ??= new Dictionary<string, string>(StringComparer.Ordinal);
            ours = !reader.IsDBNull(3) && reader.GetBoolean(3);
            if (!reader.IsDBNull(1)) columns[reader.GetString(1)] = reader.GetString(2);
        }
        return columns is null ? null : (columns, ours);
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
