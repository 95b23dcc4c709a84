using Microsoft.Extensions.Logging;
using Pgrelay.Core.Model;
using Pgrelay.Sinks.Configuration;
using Pgrelay.Sinks.Events;
using Pgrelay.Sinks.Rules;
using Pgrelay.Sinks.Targets;
using Pgrelay.Store;
using Pgrelay.Store.Feed;

namespace Pgrelay.Sinks.Delivery;

/// <summary>
/// Runs one sink on its own task: an initial load when it has no checkpoint (every row at one pinned snapshot, op r),
/// then the feed from the checkpoint on. Each batch of whole transactions is delivered (retried with back-off until it
/// succeeds), then the checkpoint is made durable, then the store is told (<see cref="DurableConsumer.Acknowledge"/>) so the
/// slot never moves past what this sink has. A failing sink only delays itself.
/// </summary>
public sealed class SinkRunner : IAsyncDisposable
{
    private readonly SinkDefinition _definition;
    private readonly ISinkTarget _target;
    private readonly ReplicatedStore _store;
    private readonly CheckpointStore _checkpoints;
    private readonly EventBuilder _events;
    private readonly DurableConsumer _consumer;
    private readonly ILogger _log;
    private readonly Func<SinkTable, IEnumerable<SinkValue[]>> _storeRows;
    private readonly Func<SinkTable, IEnumerable<(SinkValue[] Row, int Copies)>> _publishedRows;
    private Checkpoint? _checkpoint;
    private readonly WrittenTables _written;

    /// <summary>Registers the sink's durable consumer at its checkpoint right away, before replication can confirm anything.</summary>
    public SinkRunner(SinkDefinition definition, ISinkTarget target, RuleSet rules, ReplicatedStore store, CheckpointStore checkpoints, ILogger log)
    {
        _definition = definition;
        _target = target;
        _store = store;
        _checkpoints = checkpoints;
        _log = log;
        _events = new EventBuilder(rules, definition.Transactions, target.WantsSchemaChanges, store.Feed, () => IdleLsn?.Invoke() ?? Lsn.Zero);
        _storeRows = layout => _events.StoreRows(store, layout);
        _publishedRows = layout => _events.PublishedRows(store, layout);
        var record = checkpoints.Read(definition.Name);
        _checkpoint = record.Position;
        _written = new WrittenTables(record.Written);
        _consumer = store.RegisterDurableConsumer("sink:" + definition.Name, _checkpoint?.EndLsn ?? Lsn.Zero);
        Status = new SinkStatus(definition.Name, SinkSettingsParser.TypeName(definition.Type));
        if (_checkpoint is { } c) Status.CheckpointLsn = c.EndLsn;
    }

    public SinkStatus Status { get; }
    public SinkDefinition Definition => _definition;
    public ISinkTarget Target => _target;

    /// <summary>Backoff between attempts; tests shorten it.</summary>
    public TimeSpan RetryInitialDelay { get; init; } = TimeSpan.FromMilliseconds(500);
    public TimeSpan RetryMaxDelay { get; init; } = TimeSpan.FromSeconds(30);

    public async Task RunAsync(CancellationToken ct)
    {
        try
        {
            Status.State = SinkState.Starting;
            await WithRetryAsync("connect", () => _target.OpenAsync(ct), reopen: false, ct).ConfigureAwait(false);
            Lsn? position = _checkpoint?.EndLsn;
            if (position is { } filed && _target is ITransactionalCheckpoint transactional)
            {
                // The target commits its checkpoint with each batch, before the file is written: it may be ahead.
                Lsn? committed = null;
                await WithRetryAsync("checkpoint read", async () => committed = await transactional.ReadCheckpointAsync(ct).ConfigureAwait(false),
                    reopen: true, ct).ConfigureAwait(false);
                if (committed is { } ahead && ahead > filed)
                {
                    _log.LogInformation("sink {Sink}: the target committed up to {Target}, past the checkpoint file's {File}; resuming there",
                        _definition.Name, ahead, filed);
                    position = ahead;
                }
            }
            var transactions = new List<CommittedTransaction>();
            while (!ct.IsCancellationRequested)
            {
                Status.SourceLsn = _store.AppliedEndLsn;
                if (!_store.IsReady)
                {
                    await Task.Delay(100, ct).ConfigureAwait(false);
                    continue;
                }
                if (position is null)
                {
                    position = await LoadAsync(ct).ConfigureAwait(false);
                    continue;
                }
                transactions.Clear();
                switch (_store.Feed.TryReadAfterEnd(position.Value, 10_000, transactions))
                {
                    case FeedRead.Lost:
                        _log.LogWarning("sink {Sink}: its position {Position} is no longer in the change feed (oldest {Oldest}); reloading from a snapshot",
                            _definition.Name, position, _store.Feed.OldestResumableEndLsn);
                        position = null;
                        break;
                    case FeedRead.Empty:
                        Status.State = SinkState.Streaming;
                        using (var tick = CancellationTokenSource.CreateLinkedTokenSource(ct))
                        {
                            // Wake now and then while idle: to refresh the status and to follow the slot's confirmed position soon.
                            tick.CancelAfter(TimeSpan.FromMilliseconds(250));
                            try { await _store.Feed.WaitAfterEndAsync(position.Value, tick.Token).ConfigureAwait(false); }
                            catch (OperationCanceledException) when (!ct.IsCancellationRequested) { }
                        }
                        position = CatchUpToConfirmed(position.Value);
                        break;
                    default:
                        position = await DeliverTransactionsAsync(transactions, ct).ConfigureAwait(false);
                        break;
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // Hosts stop replication before the sinks: its last confirmed position is final now.
            if (_checkpoint is { } last) CatchUpToConfirmed(last.EndLsn);
        }
        finally
        {
            Status.State = SinkState.Stopped;
        }
    }

    /// <summary>
    /// An idle slot is confirmed up to the server's position, past the last transaction (empty and filtered-out
    /// transactions, heartbeats). A caught-up sink moves its checkpoint there too; otherwise the slot would look
    /// confirmed beyond the checkpoint at the next start, and the sink would have to reload. Safe because the confirmed
    /// position is read first: every transaction ending at or below it was applied before it was confirmed, so it is
    /// at or below the applied end read afterwards, which this sink has delivered.
    /// </summary>
    private Lsn CatchUpToConfirmed(Lsn position)
    {
        if (ConfirmedLsn is not { } source) return position;
        var confirmed = source();
        if (confirmed <= position || _store.AppliedEndLsn > position || _store.Feed.NewestEndLsn > position) return position;
        try
        {
            _checkpoints.Save(_definition.Name, new Checkpoint(confirmed, _checkpoint?.CommitLsn ?? Lsn.Zero, DateTimeOffset.UtcNow), _written.List);
        }
        catch (IOException e)
        {
            _log.LogDebug("sink {Sink}: could not move the idle checkpoint ({Error})", _definition.Name, e.Message);
            return position;
        }
        _checkpoint = new Checkpoint(confirmed, _checkpoint?.CommitLsn ?? Lsn.Zero, DateTimeOffset.UtcNow);
        Status.CheckpointLsn = confirmed;
        _consumer.Acknowledge(confirmed);
        return confirmed;
    }

    /// <summary>The position replication last confirmed to the server (see <see cref="CatchUpToConfirmed"/>); null: never move while idle.</summary>
    public Func<Lsn>? ConfirmedLsn { get; init; }

    /// <summary>Where replication was last idle with nothing pending (ReplicationStatus.IdleLsn): tells that a replay is complete.</summary>
    public Func<Lsn>? IdleLsn { get; init; }

    private async Task<Lsn> DeliverTransactionsAsync(List<CommittedTransaction> transactions, CancellationToken ct)
    {
        var batch = new SinkBatch { StoreRows = _storeRows, PublishedRows = _publishedRows };
        CommittedTransaction? last = null;
        foreach (var t in transactions)
        {
            if (last is not null && batch.Events.Count + t.Changes.Count > _definition.BatchSize) break;
            _events.Add(t, batch.Events);
            last = t;
        }
        batch.EndLsn = last!.EndLsn;
        // A table the sink has not written yet (added to the publications, or routed anew) is remembered before it is.
        if (_written.Note(batch.Events, _store.Publications)) await SaveWrittenAsync(ct).ConfigureAwait(false);
        if (batch.Events.Count > 0)
            await WithRetryAsync("delivery", () => _target.DeliverAsync(batch, ct), reopen: true, ct).ConfigureAwait(false);
        Status.Delivered(batch.Events.Count);
        Status.State = SinkState.Streaming;
        await CheckpointAsync(new Checkpoint(last.EndLsn, last.CommitLsn, DateTimeOffset.UtcNow), ct).ConfigureAwait(false);
        return last.EndLsn;
    }

    /// <summary>Every row at one pinned snapshot, then a checkpoint at the pin's end LSN: the feed continues from there.</summary>
    private async Task<Lsn> LoadAsync(CancellationToken ct)
    {
        Status.State = SinkState.Loading;
        using var pin = _store.Pin(out var end);
        _log.LogInformation("sink {Sink}: initial load at {Lsn}", _definition.Name, pin.Lsn);
        var time = DateTimeOffset.UtcNow;
        var publications = _store.Publications;
        var tables = publications.SelectMany(p => p.Tables).Distinct().ToList();   // the store's tables, as of these publications
        var layouts = tables.Select(t => _events.Rules.PlanFor(t.Schema, EventOp.Read).Table).ToList();
        var loaded = tables.Select((t, i) => new WrittenTable(t.RelationId, layouts[i].Schema, layouts[i].Name, WrittenTables.PublicationsOf(t, publications)))
            .ToList();
        // What the sink wrote before, the load clears too: tables removed from the publications since (while pgrelay was
        // down, the store does not hold them), or routed elsewhere now. Remembered with the loaded ones until the load is
        // checkpointed, so a load that a crash interrupts is followed by one that clears both.
        var before = _written.List;
        if (_checkpoint is not null && !_written.Recorded)
            _log.LogInformation("sink {Sink}: its checkpoint does not list the tables it wrote (an older version's): the load clears only the tables it loads",
                _definition.Name);
        if (_written.Add(loaded)) await SaveWrittenAsync(ct).ConfigureAwait(false);
        var batch = new SinkBatch
        {
            LoadStartTables = layouts.Distinct().ToList(),
            LoadWrittenTables = before,
        };
        int index = 0, rows = 0;
        if (!_target.WantsSchemaChanges)
        {
            // Documents are appended, never replaced: a load repeated after a crash during it, or after a reset, would
            // read as more rows on top of the last one. Each load starts with a truncate per table that says so, first of
            // the tables written before that it does not load (marked unpublished when the store no longer holds them);
            // mirrors empty their tables themselves (LoadStartTables, LoadWrittenTables).
            var names = new HashSet<(string, string)>();
            foreach (var stale in before)
                if (!layouts.Exists(stale.SameName) && names.Add((stale.Schema, stale.Name)))
                    batch.Events.Add(new ChangeEvent
                    {
                        Op = EventOp.Truncate, Table = stale.ToSinkTable(), CommitLsn = pin.Lsn, EndLsn = end, CommitTime = time,
                        Index = index++, LoadStart = true,
                        UnpublishedFrom = tables.Exists(t => t.RelationId == stale.RelationId) ? null : stale.Publications.ToArray(),
                    });
            var seen = new HashSet<SinkTable>(ReferenceEqualityComparer.Instance);
            for (int t = 0; t < tables.Count; t++)
                if (layouts[t] is var layout && seen.Add(layout))
                    batch.Events.Add(new ChangeEvent
                    {
                        Op = EventOp.Truncate, Table = layout, SourceTable = tables[t], CommitLsn = pin.Lsn, EndLsn = end,
                        CommitTime = time, Index = index++, LoadStart = true,
                    });
        }
        // One slice is delivered while the next is built, so the target works while the store is read; slices still
        // reach the target one at a time and in order.
        Task inFlight = Task.CompletedTask;
        try
        {
            foreach (var table in tables)
            {
                foreach (var row in table.Rows(pin))
                {
                    if (_events.Read(table, row, pin.Lsn, end, time, index++) is { } e) batch.Events.Add(e);
                    if (batch.Events.Count >= _definition.BatchSize)
                    {
                        await inFlight.ConfigureAwait(false);
                        inFlight = DeliverLoadSliceAsync(batch, ct);
                        rows += batch.Events.Count;
                        batch = new SinkBatch();
                    }
                }
            }
            await inFlight.ConfigureAwait(false);
        }
        catch
        {
            try { await inFlight.ConfigureAwait(false); } catch (Exception) { /* the first failure is the one to report */ }
            throw;
        }
        batch.EndLsn = end;   // the last slice commits the checkpoint in targets that keep it themselves
        await DeliverLoadSliceAsync(batch, ct).ConfigureAwait(false);
        rows += batch.Events.Count;
        _written.Replace(loaded);   // the loaded tables are all the target holds now
        await CheckpointAsync(new Checkpoint(end, pin.Lsn, DateTimeOffset.UtcNow), ct).ConfigureAwait(false);
        _log.LogInformation("sink {Sink}: initial load done ({Rows} rows); streaming after {End}", _definition.Name, rows, end);
        Status.State = SinkState.Streaming;
        return end;
    }

    private async Task DeliverLoadSliceAsync(SinkBatch batch, CancellationToken ct)
    {
        if (batch.Events.Count == 0 && batch.LoadStartTables is null && batch.LoadWrittenTables is null && batch.EndLsn is null) return;
        await WithRetryAsync("initial load", () => _target.DeliverAsync(batch, ct), reopen: true, ct).ConfigureAwait(false);
        Status.Delivered(batch.Events.Count);
        Status.Loaded(batch.Events.Count(e => e.Op == EventOp.Read));
    }

    private async Task CheckpointAsync(Checkpoint checkpoint, CancellationToken ct)
    {
        await WithRetryAsync("checkpoint", () =>
        {
            _checkpoints.Save(_definition.Name, checkpoint, _written.List);
            return Task.CompletedTask;
        }, reopen: false, ct).ConfigureAwait(false);
        _checkpoint = checkpoint;
        Status.CheckpointLsn = checkpoint.EndLsn;
        _consumer.Acknowledge(checkpoint.EndLsn);
    }

    /// <summary>The tables written grew: durable (with the position unchanged) before the delivery that writes them.</summary>
    private Task SaveWrittenAsync(CancellationToken ct) =>
        WithRetryAsync("checkpoint", () =>
        {
            _checkpoints.Save(_definition.Name, _checkpoint, _written.List);
            return Task.CompletedTask;
        }, reopen: false, ct);

    /// <summary>
    /// Runs <paramref name="action"/> until it succeeds: nothing is ever skipped. A transient failure is retried with
    /// back-off (state "retrying"); a permanent one (<see cref="Failures.IsPermanent"/>: the data or the target must change
    /// first) sets state "failed", is logged as an error and retried at the longest back-off only, so a fix at the target
    /// is picked up without a restart. Either way the checkpoint, and with it the slot, waits.
    /// </summary>
    private async Task WithRetryAsync(string what, Func<Task> action, bool reopen, CancellationToken ct)
    {
        var backoff = new Backoff(RetryInitialDelay, RetryMaxDelay);
        var resume = Status.State;
        bool failed = false;
        while (true)
        {
            try
            {
                if (failed && reopen) await _target.OpenAsync(ct).ConfigureAwait(false);
                await action().ConfigureAwait(false);
                if (failed) Status.State = resume;
                return;
            }
            catch (Exception e) when (!ct.IsCancellationRequested)
            {
                failed = true;
                var message = Describe(e);
                bool permanent = Failures.IsPermanent(e);
                Status.Failed($"{what}: {message}", permanent);
                Status.State = permanent ? SinkState.Failed : SinkState.Retrying;
                var delay = permanent ? RetryMaxDelay : backoff.Next();
                if (permanent)
                    _log.LogError("sink {Sink}: {What} failed and cannot succeed until the target or the data changes ({Error}); " +
                        "nothing is skipped: the sink holds its checkpoint (and the slot its WAL) and tries again in {Delay:0}s",
                        _definition.Name, what, message, delay.TotalSeconds);
                else
                    _log.LogWarning("sink {Sink}: {What} failed ({Error}); retry {Attempt} in {Delay:0.0}s", _definition.Name, what, message,
                        Status.ConsecutiveFailures, delay.TotalSeconds);
                await Task.Delay(delay, ct).ConfigureAwait(false);
            }
        }
    }

    private static string Describe(Exception e)
    {
        var message = e.Message.Split('\n')[0].Trim();
        return e.InnerException is { } inner && !message.Contains(inner.Message.Split('\n')[0]) ? $"{message} ({inner.Message.Split('\n')[0].Trim()})" : message;
    }

    public async ValueTask DisposeAsync()
    {
        _consumer.Dispose();
        await _target.DisposeAsync().ConfigureAwait(false);
    }
}
