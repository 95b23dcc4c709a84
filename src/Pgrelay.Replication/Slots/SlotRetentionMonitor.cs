using Microsoft.Extensions.Logging;
using Npgsql;
using Pgrelay.Core.Status;
using Pgrelay.Replication.Connection;

namespace Pgrelay.Replication.Slots;

/// <summary>
/// Reads how much WAL the slot makes the server keep (<see cref="SlotRetention"/>), once at start (what it held while
/// pgrelay was down) and then every <see cref="ReplicationOptions.SlotCheckInterval"/>, publishes it on
/// <see cref="ReplicationStatus"/> and logs once each time it crosses the warning threshold, either way, and each time
/// <c>wal_status</c> changes to something worse than reserved.
/// <para>
/// Its own short connection per reading: the replication connection cannot run queries, and a reading must keep
/// working while pgrelay is behind or reconnecting, which is when it matters. A failed reading is logged at debug and
/// tried again next time; the previous reading stays with its time, so readers can see it is old.
/// </para>
/// </summary>
internal sealed class SlotRetentionMonitor
{
    // On a standby (logical decoding from a standby, PostgreSQL 16+) there is no current insert position: the WAL
    // received (or replayed) so far is what the slot holds back from.
    private const string Query = """
        SELECT (CASE WHEN pg_is_in_recovery() THEN coalesce(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())
                     ELSE pg_current_wal_lsn() END - restart_lsn)::bigint,
               wal_status, safe_wal_size
        FROM pg_replication_slots WHERE slot_name = @slot
        """;

    private readonly SourceOptions _source;
    private readonly string _slotName;
    private readonly ReplicationStatus _status;
    private readonly ILogger _log;
    private readonly SemaphoreSlim _wake = new(0, 1);
    private string? _reportedWalStatus = "reserved";

    public SlotRetentionMonitor(SourceOptions source, string slotName, long warningBytes, ReplicationStatus status, ILogger log)
    {
        _source = source;
        _slotName = slotName;
        _status = status;
        _log = log;
        _status.RetentionWarningBytes = warningBytes;
    }

    /// <summary>The reading before start-up changes anything: what a slot left from an earlier run held while nobody read it.</summary>
    public async Task ReadAtStartAsync(CancellationToken ct)
    {
        var reading = await TryReadAsync(ct).ConfigureAwait(false);
        if (reading is null) return;
        _status.RetentionAtStart = reading;
        if (reading.Exists)
        {
            bool above = reading.Exceeds(_status.RetentionWarningBytes);
            _log.Log(above ? LogLevel.Warning : LogLevel.Information,
                "slot {Slot} held {Retained} of WAL on the server before this start (wal_status {WalStatus})",
                _slotName, Describe(reading.RetainedBytes), reading.WalStatus ?? "unknown");
            _status.RetentionWarning = above;   // said just now: Publish logs only a later crossing
        }
        Publish(reading);
    }

    /// <summary>Reads every <paramref name="interval"/>, and when <see cref="ReadSoon"/> asks, until cancelled.</summary>
    public async Task RunAsync(TimeSpan interval, CancellationToken ct)
    {
        while (true)
        {
            await _wake.WaitAsync(interval, ct).ConfigureAwait(false);
            if (await TryReadAsync(ct).ConfigureAwait(false) is { } reading) Publish(reading);
        }
    }

    /// <summary>
    /// Asks for a reading now rather than at the next interval: after start-up replaced the slot, the reading from before
    /// describes a slot that no longer exists.
    /// </summary>
    public void ReadSoon()
    {
        lock (_wake) if (_wake.CurrentCount == 0) _wake.Release();
    }

    /// <summary>One reading; null when the server could not be asked (it is down, or pgrelay may not read the view).</summary>
    public async Task<SlotRetention?> TryReadAsync(CancellationToken ct)
    {
        try
        {
            // pgrelay's ordinary connection string: Npgsql's data source for it (types loaded once) is shared with preflight.
            await using var conn = new NpgsqlConnection(_source.ConnectionString());
            await conn.OpenAsync(ct).ConfigureAwait(false);
            await using var cmd = new NpgsqlCommand(Query, conn);
            cmd.Parameters.AddWithValue("slot", _slotName);
            await using var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            var now = DateTimeOffset.UtcNow;
            if (!await reader.ReadAsync(ct).ConfigureAwait(false)) return new SlotRetention(false, null, null, null, now);
            return new SlotRetention(true,
                reader.IsDBNull(0) ? null : reader.GetInt64(0),
                reader.IsDBNull(1) ? null : reader.GetString(1),
                reader.IsDBNull(2) ? null : reader.GetInt64(2),
                now);
        }
        catch (Exception e) when (e is NpgsqlException or IOException or System.Net.Sockets.SocketException or TimeoutException or InvalidOperationException
                                      && !ct.IsCancellationRequested)
        {
            _log.LogDebug("could not read slot {Slot}'s WAL retention: {Error}", _slotName, Preflight.Describe(e));
            return null;
        }
    }

    /// <summary>Publishes a reading; logs a threshold crossing (either way) and a worse wal_status once each.</summary>
    public void Publish(SlotRetention reading)
    {
        _status.Retention = reading;
        long threshold = _status.RetentionWarningBytes;
        bool above = reading.Exceeds(threshold);
        if (above != _status.RetentionWarning)
        {
            if (above)
                _log.LogWarning("slot {Slot} holds {Retained} of WAL on the server, above slot-retention-warning ({Threshold}): " +
                                "PostgreSQL keeps it until pgrelay confirms past it", _slotName, Describe(reading.RetainedBytes), Describe(threshold));
            else
                _log.LogInformation("slot {Slot} holds {Retained} of WAL again, below slot-retention-warning ({Threshold})",
                    _slotName, Describe(reading.RetainedBytes), Describe(threshold));
            _status.RetentionWarning = above;
        }
        if (reading.Exists && reading.WalStatus != _reportedWalStatus)
        {
            // unreserved: beyond max_wal_size, kept only by max_slot_wal_keep_size; lost: the WAL is gone, the slot cannot go on.
            if (reading.WalStatus is "unreserved" or "lost")
                _log.LogWarning("slot {Slot} has wal_status {WalStatus} ({SafeWalSize} of WAL left before it is invalidated)",
                    _slotName, reading.WalStatus, reading.SafeWalSizeBytes is { } safe ? Describe(safe) : "no limit");
            _reportedWalStatus = reading.WalStatus;
        }
    }

    /// <summary>Bytes as a person reads them: 512 B, 3.2 MiB, 1.5 GiB.</summary>
    public static string Describe(long? bytes) => bytes switch
    {
        null => "an unknown amount",
        < 1024 => $"{bytes} B",
        < 1024 * 1024 => $"{bytes / 1024.0:0.#} KiB",
        < 1024L * 1024 * 1024 => $"{bytes / (1024.0 * 1024):0.#} MiB",
        _ => $"{bytes / (1024.0 * 1024 * 1024):0.##} GiB",
    };
}
