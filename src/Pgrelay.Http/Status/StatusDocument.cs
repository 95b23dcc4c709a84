using System.Text.Json;
using Pgrelay.Core.Model;
using Pgrelay.Core.Status;
using Pgrelay.Store;

namespace Pgrelay.Http.Status;

/// <summary>
/// Everything an operator (or the dashboard) wants in one JSON document: replication phase and positions,
/// lag, snapshot progress, tables with rows and memory, the change feed's window, clients per protocol and
/// sink checkpoints, and on request the recent lag history. Served at GET / (for non-browsers) and GET /status.
/// </summary>
internal sealed class StatusDocument(
    ReplicatedStore store,
    ReplicationStatus status,
    IEnumerable<IProtocolConnectionCounter> counters,
    IEnumerable<ISinkCheckpointSource> sinks,
    LagHistory lagHistory)
{
    private static void WriteCheckpoints(Utf8JsonWriter json, CheckpointStatus checkpoints)
    {
        json.WriteStartObject("checkpoints");
        json.WriteBoolean("enabled", checkpoints.Enabled);
        json.WriteString("state", checkpoints.State);
        if (checkpoints.Directory is { } directory) json.WriteString("directory", directory);
        json.WriteNumber("interval_seconds", checkpoints.Interval.TotalSeconds);
        json.WriteNumber("wal_bytes", checkpoints.WalBytes);
        json.WriteString("last_lsn", checkpoints.LastLsn.ToString());
        if (checkpoints.PendingLsn > Lsn.Zero) json.WriteString("pending_lsn", checkpoints.PendingLsn.ToString());
        if (checkpoints.LastWritten is { } written) json.WriteString("last_written", written.UtcDateTime);
        json.WriteNumber("last_rows", checkpoints.LastRows);
        json.WriteNumber("last_bytes", checkpoints.LastBytes);
        json.WriteNumber("last_write_ms", checkpoints.LastWriteMilliseconds);
        json.WriteNumber("written", checkpoints.Written);
        json.WriteNumber("failures", checkpoints.Failures);
        if (checkpoints.LastError is { } error) json.WriteString("last_error", error);
        // Started from a checkpoint (no snapshot copy) when non-zero.
        json.WriteString("loaded_lsn", checkpoints.LoadedLsn.ToString());
        json.WriteNumber("loaded_rows", checkpoints.LoadedRows);
        json.WriteNumber("load_ms", checkpoints.LoadMilliseconds);
        json.WriteNumber("useless", checkpoints.Useless);
        if (checkpoints.LastUselessReason is { } reason) json.WriteString("last_useless_reason", reason);
        json.WriteEndObject();
    }

    /// <summary>When each start-up step ended, in ms since the process started (exec), in the order they ended, with the CPU
    /// the process had used by then.</summary>
    private static void WriteStartup(Utf8JsonWriter json, StartupTimeline startup)
    {
        json.WriteStartArray("startup");
        foreach (var (step, ms, cpuMs) in startup.Marks)
        {
            json.WriteStartObject();
            json.WriteString("step", step);
            json.WriteNumber("ms", ms);
            json.WriteNumber("cpu_ms", cpuMs);
            json.WriteEndObject();
        }
        json.WriteEndArray();
    }

    /// <param name="historyAfter">When set, adds the lag samples taken after it (the dashboard's chart).</param>
    public void Write(Utf8JsonWriter json, DateTimeOffset now, DateTimeOffset? historyAfter = null)
    {
        json.WriteStartObject();
        json.WriteString("time", now.UtcDateTime);
        json.WriteString("phase", status.Phase.ToString().ToLowerInvariant());
        json.WriteBoolean("ready", store.IsReady);
        json.WriteBoolean("resnapshotting", store.IsResnapshotting);
        json.WriteString("visible_lsn", store.VisibleLsn.ToString());
        json.WriteNumber("lag_bytes", status.LagBytes);
        json.WriteNumber("lag_seconds", status.LagSeconds(now));
        if (status.LastError is { } error) json.WriteString("last_error", error);

        json.WriteStartObject("replication");
        json.WriteString("slot", status.SlotName);
        json.WriteString("consistent_point", status.ConsistentPoint.ToString());
        json.WriteString("received_lsn", status.ReceivedLsn.ToString());
        json.WriteString("applied_lsn", status.AppliedLsn.ToString());
        json.WriteString("confirmed_lsn", status.ConfirmedLsn.ToString());
        json.WriteString("server_wal_end", status.ServerWalEnd.ToString());
        json.WriteString("safe_to_confirm_lsn", store.SafeToConfirmLsn.ToString());
        json.WriteNumber("transactions_applied", status.TransactionsApplied);
        json.WriteNumber("changes_applied", status.ChangesApplied);
        json.WriteNumber("reconnects", status.Reconnects);
        json.WriteNumber("resnapshots", status.Resnapshots);
        json.WriteNumber("publication_checks", status.PublicationChecks);
        if (status.LastResnapshotReason is { } resnapshot) json.WriteString("last_resnapshot_reason", resnapshot);
        json.WriteEndObject();

        WriteCheckpoints(json, status.Checkpoints);
        WriteStartup(json, status.Startup);

        json.WriteStartArray("reloads");
        foreach (var reload in status.Reloads)
        {
            json.WriteStartObject();
            json.WriteString("table", reload.Table);
            json.WriteString("reason", reload.Reason);
            json.WriteString("since_lsn", reload.Since.ToString());
            json.WriteString("started", reload.Started.UtcDateTime);
            json.WriteString("phase", reload.Phase);
            json.WriteNumber("rows_copied", reload.RowsCopied);
            json.WriteEndObject();
        }
        json.WriteEndArray();
        WriteSlotRetention(json);

        json.WriteStartObject("snapshot");
        json.WriteNumber("tables_done", status.SnapshotTablesDone);
        json.WriteNumber("tables_total", status.SnapshotTablesTotal);
        json.WriteNumber("rows_copied", status.SnapshotRowsCopied);
        json.WriteNumber("rows_estimated", status.SnapshotRowsEstimated);
        json.WriteEndObject();

        json.WriteStartObject("feed");
        json.WriteString("newest_lsn", store.Feed.NewestLsn.ToString());
        json.WriteString("oldest_resumable_lsn", store.Feed.OldestResumableLsn.ToString());
        json.WriteNumber("retained_transactions", store.Feed.RetainedTransactions);
        json.WriteNumber("retained_bytes", store.Feed.RetainedBytes);
        json.WriteNumber("max_bytes", store.Feed.MaxRetainedBytes);
        json.WriteEndObject();

        long rows = 0, bytes = 0;
        json.WriteStartArray("publications");
        foreach (var publication in store.Publications)
        {
            json.WriteStartObject();
            json.WriteString("name", publication.Name);
            json.WriteStartArray("tables");
            foreach (var table in publication.Tables)
            {
                json.WriteStartObject();
                json.WriteString("name", table.KeyName);
                json.WriteNumber("rows", table.RowCount);
                json.WriteNumber("bytes", table.MemoryBytes);
                json.WriteNumber("bytes_per_row", Math.Round(table.BytesPerRow, 1));
                json.WriteBoolean("primary_key", table.Schema.HasPrimaryKey);
                // Changes PostgreSQL never sends for this table: rows it changes that way stay as they were here.
                var unreplicated = table.Schema.UnreplicatedChanges;
                json.WriteBoolean("may_be_stale", unreplicated != ChangeActions.None);
                json.WriteStartArray("unreplicated_changes");
                foreach (var name in unreplicated.Names()) json.WriteStringValue(name);
                json.WriteEndArray();
                json.WriteEndObject();
            }
            json.WriteEndArray();
            json.WriteEndObject();
        }
        json.WriteEndArray();
        foreach (var table in store.Tables)   // a table in two publications is held once
        {
            rows += table.RowCount;
            bytes += table.MemoryBytes;
        }
        json.WriteStartObject("memory");
        json.WriteNumber("rows", rows);
        json.WriteNumber("bytes", bytes);
        json.WriteNumber("bytes_per_row", rows == 0 ? 0 : Math.Round((double)bytes / rows, 1));
        json.WriteEndObject();

        json.WriteStartArray("clients");
        foreach (var counter in counters)
        {
            json.WriteStartObject();
            json.WriteString("protocol", counter.Protocol);
            json.WriteNumber("connections", counter.OpenConnections);
            json.WriteEndObject();
        }
        json.WriteEndArray();

        var checkpoints = sinks.SelectMany(s => s.Checkpoints).ToList();
        json.WriteStartObject("sinks");
        json.WriteBoolean("configured", checkpoints.Count > 0);
        json.WriteStartArray("checkpoints");
        foreach (var checkpoint in checkpoints)
        {
            json.WriteStartObject();
            json.WriteString("name", checkpoint.Name);
            json.WriteString("kind", checkpoint.Kind);
            json.WriteString("acknowledged_lsn", checkpoint.Acknowledged.ToString());
            if (checkpoint.State is { } state) json.WriteString("state", state);
            json.WriteNumber("failures", checkpoint.Failures);
            json.WriteNumber("permanent_failures", checkpoint.PermanentFailures);
            if (checkpoint.LastError is { } sinkError) json.WriteString("last_error", sinkError);
            json.WriteEndObject();
        }
        json.WriteEndArray();
        json.WriteEndObject();

        if (historyAfter is { } after) WriteLagHistory(json, after);

        json.WriteEndObject();
    }

    /// <summary>What the slot makes the server keep; nulls until the first reading (or when the server does not say).</summary>
    private void WriteSlotRetention(Utf8JsonWriter json)
    {
        var reading = status.Retention;
        json.WriteStartObject("slot_retention");
        json.WriteBoolean("warning", status.RetentionWarning);
        json.WriteNumber("warning_threshold_bytes", status.RetentionWarningBytes);
        if (reading is null) json.WriteNull("slot_exists");
        else json.WriteBoolean("slot_exists", reading.Exists);
        WriteNumberOrNull(json, "retained_wal_bytes", reading?.RetainedBytes);
        if (reading?.WalStatus is { } walStatus) json.WriteString("wal_status", walStatus);
        else json.WriteNull("wal_status");
        WriteNumberOrNull(json, "safe_wal_size_bytes", reading?.SafeWalSizeBytes);
        if (reading is not null) json.WriteString("checked_at", reading.At.UtcDateTime);
        else json.WriteNull("checked_at");
        WriteNumberOrNull(json, "retained_at_start_bytes", status.RetentionAtStart?.RetainedBytes);
        json.WriteEndObject();
    }

    private static void WriteNumberOrNull(Utf8JsonWriter json, string name, long? value)
    {
        if (value is { } v) json.WriteNumber(name, v);
        else json.WriteNull(name);
    }

    /// <summary>Compact rows of [unix milliseconds, seconds, bytes]: up to ten minutes of samples stay a few KiB.</summary>
    private void WriteLagHistory(Utf8JsonWriter json, DateTimeOffset after)
    {
        json.WriteStartArray("lag_history");
        foreach (var sample in lagHistory.After(after))
        {
            json.WriteStartArray();
            json.WriteNumberValue(sample.Time.ToUnixTimeMilliseconds());
            json.WriteNumberValue(Math.Round(sample.Seconds, 3));
            json.WriteNumberValue(sample.Bytes);
            json.WriteEndArray();
        }
        json.WriteEndArray();
    }
}
