using Microsoft.Extensions.Logging;
using Npgsql;
using Npgsql.Replication;
using Npgsql.Replication.PgOutput;
using NpgsqlTypes;
using Pgrelay.Core.Changes;
using Pgrelay.Core.Model;
using Pgrelay.Core.Status;
using Pgrelay.Replication.Connection;
using Pgrelay.Replication.Reloads;
using Pgrelay.Replication.Slots;

namespace Pgrelay.Replication.Streaming;

/// <summary>
/// One START_REPLICATION session: checks that the slot still holds what the target lacks (<see cref="SlotPosition"/>),
/// decodes messages into the target, confirms progress to the server, and keeps a heartbeat going. Returns (or throws)
/// when the connection ends; the caller reconnects.
/// </summary>
internal sealed class StreamingSession
{
    private static readonly TimeSpan FeedbackTick = TimeSpan.FromSeconds(1);

    private readonly SourceOptions _source;
    private readonly ReplicationOptions _options;
    private readonly IReplicationTarget _target;
    private readonly ReplicationStatus _status;
    private readonly RelationCatalog _catalog;
    private readonly TableReloads? _reloads;
    private readonly SlotPosition _position;
    private readonly ILogger _log;

    public StreamingSession(SourceOptions source, ReplicationOptions options, IReplicationTarget target, ReplicationStatus status,
        RelationCatalog catalog, TableReloads? reloads, SlotPosition position, ILogger log)
    {
        _source = source;
        _options = options;
        _target = target;
        _status = status;
        _catalog = catalog;
        _reloads = reloads;
        _position = position;
        _log = log;
    }

    public async Task RunAsync(LogicalReplicationConnection conn, string slotName, int protocolVersion, CancellationToken ct)
    {
        var pgOptions = new PgOutputReplicationOptions(_options.Publications, (PgOutputProtocolVersion)protocolVersion,
            binary: false, streamingMode: Preflight.StreamingModeFor(protocolVersion), messages: true);
        using var decoder = new PgOutputDecoder(_target, _status, _catalog, _reloads, _options, _log);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var watchdog = new StallWatchdog(StallTimeout(_options.HeartbeatInterval));

        var heartbeat = new HeartbeatEmitter(_source, _options.HeartbeatInterval, _log,
            lsn => watchdog.OnBeat(lsn, DateTime.UtcNow, _status.ReceivedLsn)).RunAsync(stop.Token);
        Task? feedback = null;
        Task<Lsn>? attached = null;
        // Where the previous session stopped decoding. A session that reconnects says "streaming" only once it has
        // decoded past that point, so one that fails at the same message every time never looks healthy on /status.
        var resumeAfter = _status.ReceivedLsn;
        try
        {
            var messages = conn.StartReplication(new PgOutputReplicationSlot(slotName), pgOptions, stop.Token);
            if (resumeAfter == Lsn.Zero) _status.Phase = ReplicationPhase.Streaming;
            _log.LogInformation("streaming from slot {Slot} (pgoutput protocol {Protocol}, streaming {Mode}) after {Applied}", slotName,
                protocolVersion, pgOptions.StreamingMode, _target.AppliedLsn);
            // START_REPLICATION goes out with the first read below; the check waits until it holds the slot. Nothing is
            // applied or confirmed before the check passed.
            attached = _position.VerifyAttachAsync(_source, slotName, conn.ProcessID, _target.AppliedLsn, stop.Token);
            // A failed check ends the session even while the stream is idle.
            _ = attached.ContinueWith(static (t, s) => ((CancellationTokenSource)s!).Cancel(), stop,
                CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
            feedback = FeedbackLoopAsync(conn, decoder, attached, slotName, watchdog, stop);
            bool verified = false;
            try
            {
                await using var reader = messages.GetAsyncEnumerator(stop.Token);
                while (true)
                {
                    watchdog.Waiting(DateTime.UtcNow);
                    if (!await reader.MoveNextAsync().ConfigureAwait(false)) break;
                    watchdog.Received();
                    var message = reader.Current;
                    if (!verified)
                    {
                        var slotAt = await attached.ConfigureAwait(false);
                        _log.LogDebug("slot {Slot} held, confirmed at {Confirmed}: nothing past what the store holds", slotName, slotAt);
                        verified = true;
                    }
                    await decoder.HandleAsync(message, stop.Token).ConfigureAwait(false);
                    if (_status.Phase != ReplicationPhase.Streaming && (ulong)message.WalEnd > resumeAfter.Value)
                        _status.Phase = ReplicationPhase.Streaming;
                }
            }
            catch (Exception) when (attached.IsFaulted && !ct.IsCancellationRequested)
            {
                await attached.ConfigureAwait(false);   // the reason the session ended
                throw;
            }
            ct.ThrowIfCancellationRequested();
            throw new EndOfStreamException("the server ended the replication stream");
        }
        catch (OperationCanceledException) when (_stalled is not null && !ct.IsCancellationRequested)
        {
            throw _stalled;
        }
        finally
        {
            stop.Cancel();
            await heartbeat.ConfigureAwait(false);
            if (feedback is not null) await feedback.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            if (attached is not null) await ((Task)attached).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    /// <summary>Long enough for several heartbeats and a busy server; a real stall lasts forever, so there is no hurry.</summary>
    internal static TimeSpan StallTimeout(TimeSpan heartbeat) =>
        heartbeat * 3 > TimeSpan.FromSeconds(30) ? heartbeat * 3 : TimeSpan.FromSeconds(30);

    /// <summary>Confirms a suspected stall with the server (how far has it sent on our slot?) and ends the session loudly.</summary>
    private async Task CheckStallAsync(string slotName, StallWatchdog watchdog, CancellationTokenSource session, CancellationToken ct)
    {
        var decoded = _status.ReceivedLsn;
        if (watchdog.Suspect(DateTime.UtcNow, decoded) is not { } beat) return;
        NpgsqlLogSequenceNumber sent;
        try
        {
            await using var conn = await Preflight.OpenAsync(_source, ct).ConfigureAwait(false);
            await using var cmd = new NpgsqlCommand(
                "SELECT r.sent_lsn FROM pg_replication_slots s JOIN pg_stat_replication r ON r.pid = s.active_pid WHERE s.slot_name = @slot", conn);
            cmd.Parameters.AddWithValue("slot", slotName);
            if (await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false) is not NpgsqlLogSequenceNumber lsn) return;
            sent = lsn;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // Unconfirmed; the next tick asks again. A server that cannot answer breaks the stream on its own.
            _log.LogDebug("stall check failed: {Error}", Preflight.Describe(e));
            return;
        }
        if (!StallWatchdog.Stalled(beat, new Lsn((ulong)sent))) return;
        _stalled = new TimeoutException(
            $"the replication stream stalled: the server sent up to {new Lsn((ulong)sent)}, past heartbeat {beat}, but nothing after " +
            $"{decoded} was decoded for {watchdog.Timeout.TotalSeconds:0} s; reconnecting");
        _log.LogError("{Error}", _stalled.Message);
        await session.CancelAsync().ConfigureAwait(false);
    }

    private TimeoutException? _stalled;

    /// <summary>
    /// Confirms to the server only what the target says is safe (every durable consumer has it). When nothing is
    /// buffered and everything applied is already safe, the server's own position is confirmed too, so an idle
    /// slot does not keep WAL: nothing below it can still be on its way to us.
    /// <para>
    /// Only the status updates that confirm carry a flush position; every other one (ours, and the replies Npgsql sends
    /// on its own when the server asks) reports flush as invalid, with write at what was received. A fast or smart
    /// shutdown makes the walsender wait until the reported flush position, or the write position when flush is
    /// invalid, equals everything it sent (walsender.c, WalSndDone), and it asks for a reply again and again until then:
    /// a flush held back by a lagging sink kept PostgreSQL from ever shutting down. An invalid flush confirms nothing
    /// (the slot moves only on a valid one), so the server finishes its shutdown, the stream ends, and the next session
    /// resumes from what was confirmed.
    /// </para>
    /// </summary>
    private async Task FeedbackLoopAsync(LogicalReplicationConnection conn, PgOutputDecoder decoder, Task attached, string slotName,
        StallWatchdog watchdog, CancellationTokenSource session)
    {
        var ct = session.Token;
        // Nothing is confirmed before the slot was found to hold what the store lacks (the session ends otherwise).
        await attached.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        if (!attached.IsCompletedSuccessfully) return;
        var confirmed = _status.ConfirmedLsn;
        // A new session reports what the previous one confirmed as applied (display only), never zero.
        conn.LastAppliedLsn = new NpgsqlLogSequenceNumber(confirmed.Value);
        conn.LastFlushedLsn = NpgsqlLogSequenceNumber.Invalid;
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
                candidate = Lsn.Min(candidate, _target.ConfirmCeiling);

                if (candidate > confirmed)
                {
                    // Recorded before the server can learn it: a reattach compares the slot with it.
                    _position.Confirm(candidate);
                    confirmed = candidate;
                    conn.SetReplicationStatus(new NpgsqlLogSequenceNumber(confirmed.Value));
                    try
                    {
                        await conn.SendStatusUpdate(ct).ConfigureAwait(false);
                    }
                    finally
                    {
                        conn.LastFlushedLsn = NpgsqlLogSequenceNumber.Invalid;
                    }
                    _status.ConfirmedLsn = confirmed;
                    lastSent = DateTime.UtcNow;
                }
                else if (DateTime.UtcNow - lastSent >= _options.StatusInterval)
                {
                    await conn.SendStatusUpdate(ct).ConfigureAwait(false);
                    lastSent = DateTime.UtcNow;
                }
                await CheckStallAsync(slotName, watchdog, session, ct).ConfigureAwait(false);
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
