using Microsoft.Extensions.Logging;
using Npgsql.Replication;
using Npgsql.Replication.PgOutput;
using NpgsqlTypes;
using Pgrelay.Core.Changes;
using Pgrelay.Core.Model;
using Pgrelay.Core.Status;
using Pgrelay.Replication.Connection;

namespace Pgrelay.Replication.Streaming;

/// <summary>
/// One START_REPLICATION session: decodes messages into the target, confirms progress to the server, and
/// keeps a heartbeat going. Returns (or throws) when the connection ends; the caller reconnects.
/// </summary>
internal sealed class StreamingSession
{
    private static readonly TimeSpan FeedbackTick = TimeSpan.FromSeconds(1);

    private readonly SourceOptions _source;
    private readonly ReplicationOptions _options;
    private readonly IReplicationTarget _target;
    private readonly ReplicationStatus _status;
    private readonly RelationCatalog _catalog;
    private readonly ILogger _log;

    public StreamingSession(SourceOptions source, ReplicationOptions options, IReplicationTarget target, ReplicationStatus status,
        RelationCatalog catalog, ILogger log)
    {
        _source = source;
        _options = options;
        _target = target;
        _status = status;
        _catalog = catalog;
        _log = log;
    }

    public async Task RunAsync(LogicalReplicationConnection conn, string slotName, int protocolVersion, CancellationToken ct)
    {
        var pgOptions = new PgOutputReplicationOptions(_options.Publications, (PgOutputProtocolVersion)protocolVersion,
            binary: false, streamingMode: PgOutputStreamingMode.On, messages: true);
        await using var missing = new MissingValueLookup(_source);
        using var decoder = new PgOutputDecoder(_target, _status, _catalog, missing, _options, _log);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);

        var heartbeat = new HeartbeatEmitter(_source, _options.HeartbeatInterval, _log).RunAsync(stop.Token);
        Task? feedback = null;
        try
        {
            var messages = conn.StartReplication(new PgOutputReplicationSlot(slotName), pgOptions, stop.Token);
            _status.Phase = ReplicationPhase.Streaming;
            _log.LogInformation("streaming from slot {Slot} (pgoutput protocol {Protocol}) after {Applied}", slotName, protocolVersion, _target.AppliedLsn);
            feedback = FeedbackLoopAsync(conn, decoder, stop.Token);
            await foreach (var message in messages.ConfigureAwait(false))
                await decoder.HandleAsync(message, stop.Token).ConfigureAwait(false);
            ct.ThrowIfCancellationRequested();
            throw new EndOfStreamException("the server ended the replication stream");
        }
        finally
        {
            stop.Cancel();
            await heartbeat.ConfigureAwait(false);
            if (feedback is not null) await feedback.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    /// <summary>
    /// Confirms to the server only what the target says is safe (every durable consumer has it). When nothing is
    /// buffered and everything applied is already safe, the server's own position is confirmed too, so an idle
    /// slot does not keep WAL: nothing below it can still be on its way to us.
    /// </summary>
    private async Task FeedbackLoopAsync(LogicalReplicationConnection conn, PgOutputDecoder decoder, CancellationToken ct)
    {
        var confirmed = _status.ConfirmedLsn;
        // A new session starts from what the previous one confirmed, never from zero.
        if (confirmed > Lsn.Zero) conn.SetReplicationStatus(new NpgsqlLogSequenceNumber(confirmed.Value));
        var lastSent = DateTime.UtcNow;
        using var timer = new PeriodicTimer(FeedbackTick);
        try
        {
            while (await timer.WaitForNextTickAsync(ct).ConfigureAwait(false))
            {
                long before = decoder.MessagesHandled;
                var received = new Lsn((ulong)conn.LastReceivedLsn);
                if (received > _status.ServerWalEnd) _status.ServerWalEnd = received;
                // Idle: everything the server has sent so far was handled and no transaction is open, so for lag the
                // stream is at the server's position (display only; what is confirmed is decided below).
                if (decoder.OpenTransactions == 0 && decoder.MessagesHandled == before)
                    _status.IdleLsn = Lsn.Max(_status.IdleLsn, Lsn.Max(received, Lsn.Max(_status.ReceivedLsn, _status.ServerWalEnd)));

                var candidate = _target.SafeToConfirmLsn;
                long seen = decoder.MessagesHandled;
                if (decoder.OpenTransactions == 0 && candidate >= _target.AppliedLsn)
                {
                    var serverPosition = new Lsn((ulong)conn.LastReceivedLsn);
                    if (decoder.OpenTransactions == 0 && decoder.MessagesHandled == seen) candidate = Lsn.Max(candidate, serverPosition);
                }

                bool due = DateTime.UtcNow - lastSent >= _options.StatusInterval;
                if (candidate > confirmed)
                {
                    conn.SetReplicationStatus(new NpgsqlLogSequenceNumber(candidate.Value));
                    confirmed = candidate;
                    due = true;
                }
                if (due)
                {
                    await conn.SendStatusUpdate(ct).ConfigureAwait(false);
                    _status.ConfirmedLsn = confirmed;
                    lastSent = DateTime.UtcNow;
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested) { }
        catch (Exception e)
        {
            // The stream's own read fails too when the connection is gone; that is where reconnecting starts.
            _log.LogDebug("status update failed: {Error}", Preflight.Describe(e));
        }
    }
}
