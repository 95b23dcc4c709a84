using Microsoft.Extensions.Logging;
using Npgsql;
using Pgrelay.Core.Model;
using Pgrelay.Replication.Connection;

namespace Pgrelay.Replication.Streaming;

/// <summary>
/// Writes a tiny non-transactional logical message to the source every interval. When the published tables are
/// idle (or every change is filtered out) the slot would otherwise never see anything to confirm and would hold
/// WAL back; the message flows through the slot and lets the feedback loop advance it. The decoder ignores it.
/// </summary>
internal sealed class HeartbeatEmitter
{
    public const string Prefix = "pgrelay.heartbeat";

    private readonly SourceOptions _source;
    private readonly TimeSpan _interval;
    private readonly ILogger _log;
    private readonly Action<Lsn>? _onBeat;

    /// <param name="onBeat">Told the LSN of each heartbeat written (the stall watchdog expects to decode it).</param>
    public HeartbeatEmitter(SourceOptions source, TimeSpan interval, ILogger log, Action<Lsn>? onBeat = null)
    {
        _source = source;
        _interval = interval;
        _log = log;
        _onBeat = onBeat;
    }

    public async Task RunAsync(CancellationToken ct)
    {
        if (_interval <= TimeSpan.Zero) return;
        NpgsqlConnection? conn = null;
        using var timer = new PeriodicTimer(_interval);
        try
        {
            while (await timer.WaitForNextTickAsync(ct).ConfigureAwait(false))
            {
                try
                {
                    if (conn is null)
                    {
                        conn = new NpgsqlConnection(_source.ConnectionString("pgrelay-heartbeat"));
                        await conn.OpenAsync(ct).ConfigureAwait(false);
                    }
                    await using var cmd = new NpgsqlCommand($"SELECT pg_logical_emit_message(false, '{Prefix}', '')", conn);
                    if (await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false) is NpgsqlTypes.NpgsqlLogSequenceNumber lsn)
                        _onBeat?.Invoke(new Lsn((ulong)lsn));
                }
                catch (Exception e) when (e is NpgsqlException or IOException or TimeoutException)
                {
                    // The replication loop notices a broken server on its own; here we just try again next tick.
                    _log.LogDebug("heartbeat failed: {Error}", Preflight.Describe(e));
                    if (conn is not null) await conn.DisposeAsync().ConfigureAwait(false);
                    conn = null;
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested) { }
        finally
        {
            if (conn is not null) await conn.DisposeAsync().ConfigureAwait(false);
        }
    }
}
