using Microsoft.Extensions.Logging;
using Npgsql.Replication.PgOutput.Messages;
using NpgsqlTypes;
using Pgrelay.Core.Changes;
using Pgrelay.Core.Model;
using Pgrelay.Core.Rendering;
using Pgrelay.Core.Rows;
using Pgrelay.Core.Status;
using Pgrelay.Replication.Reloads;

namespace Pgrelay.Replication.Streaming;

/// <summary>
/// Turns the pgoutput message stream of one replication session into committed <see cref="Transaction"/>s
/// applied to the target in commit order. Ordinary transactions are buffered from Begin to Commit; streamed
/// (in-progress) transactions are buffered per top-level xid across stream blocks until StreamCommit, and
/// dropped (whole or one subtransaction) at StreamAbort. One decoder per session: after a reconnect the server
/// resends everything not yet confirmed, so open buffers are simply dropped.
/// <para>Tables being loaded beside the stream (<see cref="TableReloads"/>) get their changes copied into their tails as
/// the target applies them, and the transaction carrying a load's marker carries the load itself.</para>
/// </summary>
internal sealed class PgOutputDecoder : IDisposable
{
    private readonly IReplicationTarget _target;
    private readonly ReplicationStatus _status;
    private readonly RelationCatalog _catalog;
    private readonly TableReloads? _reloads;
    private readonly Dictionary<uint, TableSchema> _altered = [];   // the shape a composite mismatch was reported for, by table
    private readonly ReplicationOptions _options;
    private readonly string _spillDirectory;
    private readonly ILogger _log;
    private readonly TupleReader _reader = new();
    private readonly Dictionary<uint, TransactionBuffer> _streamed = new();

    private TransactionBuffer? _current;
    private TransactionRoute _currentRoute;
    private uint? _streamXid;
    private int _openTransactions;
    private long _messages;

    public PgOutputDecoder(IReplicationTarget target, ReplicationStatus status, RelationCatalog catalog, TableReloads? reloads,
        ReplicationOptions options, ILogger log)
    {
        _target = target;
        _status = status;
        _catalog = catalog;
        _reloads = reloads;
        _options = options;
        _spillDirectory = options.SpillDirectory ?? Path.GetTempPath();
        _log = log;
    }

    /// <summary>Transactions begun and not yet committed or aborted. Read by the feedback loop.</summary>
    public int OpenTransactions => Volatile.Read(ref _openTransactions);

    /// <summary>Messages handled so far; lets the feedback loop see that nothing arrived while it looked.</summary>
    public long MessagesHandled => Interlocked.Read(ref _messages);

    public async ValueTask HandleAsync(PgOutputReplicationMessage message, CancellationToken ct)
    {
        var walEnd = new Lsn((ulong)message.WalEnd);
        if (walEnd > _status.ReceivedLsn) _status.ReceivedLsn = walEnd;
        if (walEnd > _status.ServerWalEnd) _status.ServerWalEnd = walEnd;
        _status.LastMessageTime = DateTimeOffset.UtcNow;

        switch (message)
        {
            case BeginMessage begin:
                _current?.Dispose();
                _current = NewBuffer(begin.TransactionXid);
                // What the target already holds (a replay after reconnect, or the snapshot) is decoded for its relations
                // (cheap) but keeps no rows; the target's one rule decides, by the commit LSN Begin announces.
                _currentRoute = _target.Route(new Lsn((ulong)begin.TransactionFinalLsn));
                break;
            case CommitMessage commit:
                var buffer = _current ?? throw Protocol("Commit without Begin");
                _current = null;
                Commit(buffer, commit.CommitLsn, commit.TransactionEndLsn, commit.TransactionCommitTimestamp, _currentRoute == TransactionRoute.Skip);
                break;
            case StreamStartMessage start:
                _streamXid = start.TransactionXid;
                if (!_streamed.ContainsKey(start.TransactionXid)) _streamed[start.TransactionXid] = NewBuffer(start.TransactionXid);
                break;
            case StreamStopMessage:
                _streamXid = null;
                break;
            case StreamCommitMessage streamCommit:
                if (!_streamed.Remove(streamCommit.TransactionXid, out var streamedBuffer))
                    throw Protocol($"StreamCommit for unknown transaction {streamCommit.TransactionXid}");
                Commit(streamedBuffer, streamCommit.CommitLsn, streamCommit.TransactionEndLsn, streamCommit.TransactionCommitTimestamp,
                    skip: false);
                break;
            case StreamAbortMessage abort:
                if (abort.SubtransactionXid == abort.TransactionXid)
                {
                    if (_streamed.Remove(abort.TransactionXid, out var aborted)) Close(aborted);
                }
                else if (_streamed.TryGetValue(abort.TransactionXid, out var parent))
                {
                    parent.AbortSubtransaction(abort.SubtransactionXid);
                }
                break;
            case RelationMessage relation:
                OnRelation(relation, BufferFor(relation));
                break;
            case LogicalDecodingMessage { Prefix: ReloadMarker.Prefix, Flags: 1 } marker:
                await OnMarkerAsync(marker, ct).ConfigureAwait(false);
                break;
            case InsertMessage insert:
                await OnRowAsync(insert, insert.Relation.RelationId, ChangeKind.Insert, null, insert.NewRow, ct).ConfigureAwait(false);
                break;
            case FullUpdateMessage full:
                await OnRowAsync(full, full.Relation.RelationId, ChangeKind.Update, full.OldRow, full.NewRow, ct).ConfigureAwait(false);
                break;
            case IndexUpdateMessage keyed:
                await OnRowAsync(keyed, keyed.Relation.RelationId, ChangeKind.Update, keyed.Key, keyed.NewRow, ct).ConfigureAwait(false);
                break;
            case UpdateMessage update:
                await OnRowAsync(update, update.Relation.RelationId, ChangeKind.Update, null, update.NewRow, ct).ConfigureAwait(false);
                break;
            case KeyDeleteMessage keyDelete:
                await OnRowAsync(keyDelete, keyDelete.Relation.RelationId, ChangeKind.Delete, keyDelete.Key, null, ct).ConfigureAwait(false);
                break;
            case FullDeleteMessage fullDelete:
                await OnRowAsync(fullDelete, fullDelete.Relation.RelationId, ChangeKind.Delete, fullDelete.OldRow, null, ct).ConfigureAwait(false);
                break;
            case TruncateMessage truncate:
                OnTruncate(truncate);
                break;
            case LogicalDecodingMessage { Flags: 0 } outside:
                // A message outside any transaction (a heartbeat): every commit below it has been delivered.
                _target.Reached(new Lsn((ulong)outside.MessageLsn));
                break;
            default:
                // Transactional messages other than markers, Type and Origin messages carry nothing to cache.
                break;
        }
        Interlocked.Increment(ref _messages);
    }

    private TransactionBuffer NewBuffer(uint xid)
    {
        Interlocked.Increment(ref _openTransactions);
        return new TransactionBuffer(xid, _options.SpillThresholdBytes, _spillDirectory);
    }

    private void Close(TransactionBuffer buffer)
    {
        buffer.Dispose();
        Interlocked.Decrement(ref _openTransactions);
    }

    private TransactionBuffer BufferFor(TransactionalMessage message)
    {
        if (message.TransactionXid is { } xid)
        {
            // Inside a stream block every change names its (sub)transaction; the block names the top-level one.
            var top = _streamXid ?? xid;
            return _streamed.TryGetValue(top, out var b) ? b : throw Protocol($"change for transaction {xid} outside its stream");
        }
        return _current ?? throw Protocol("change outside a transaction");
    }

    private bool Skipping(TransactionBuffer buffer) => ReferenceEquals(buffer, _current) && _currentRoute == TransactionRoute.Skip;

    /// <summary>
    /// A table's shape as the stream describes it from now on. The message names columns and types but no attribute
    /// numbers, and a catalog read is as of now, not as of this position: a rename cannot be told from a drop and an add,
    /// nor a constant default from a volatile one after a rewrite. So a shape whose rows are not row-compatible with the
    /// held ones is loaded again beside the stream (the target freezes the table meanwhile); nothing is guessed.
    /// </summary>
    private void OnRelation(RelationMessage relation, TransactionBuffer buffer)
    {
        var known = _catalog.Find(relation.RelationId, buffer);
        var schema = RelationShapes.FromMessage(relation, known);
        if (known is not null && RelationShapes.SameShape(known, schema)) return;
        if (known is null)
        {
            _log.LogInformation("table {Table} appeared in the stream without being held; looking at the publications", schema);
            _reloads?.UnknownRelation();
        }
        else
        {
            _log.LogInformation("table {Table} changed shape: ({Old}) -> ({New})", schema,
                string.Join(", ", known.Columns.Select(c => c.Name)), string.Join(", ", schema.Columns.Select(c => c.Name)));
            _reloads?.RelationChanged(known, schema);
        }
        buffer.Relations[relation.RelationId] = schema;
        buffer.Add(new RowChange(ChangeKind.Relation, schema), relation.TransactionXid ?? 0);
    }

    private async ValueTask OnMarkerAsync(LogicalDecodingMessage marker, CancellationToken ct)
    {
        var buffer = BufferFor(marker);
        if (Skipping(buffer) || _reloads is null) return;
        using var reader = new StreamReader(marker.Data, System.Text.Encoding.UTF8, leaveOpen: true);
        var payload = await reader.ReadToEndAsync(ct).ConfigureAwait(false);
        if (_reloads.IsOwnMarker(payload)) buffer.Markers.Add(payload);
    }

    private async ValueTask OnRowAsync(TransactionalMessage message, uint relationId, ChangeKind kind,
        Npgsql.Replication.PgOutput.ReplicationTuple? oldTuple, Npgsql.Replication.PgOutput.ReplicationTuple? newTuple, CancellationToken ct)
    {
        var buffer = BufferFor(message);
        if (Skipping(buffer)) return;
        var schema = _catalog.Find(relationId, buffer);
        if (schema is null) return; // not a relation this stream announced
        int columns = schema.Columns.Count;
        // Old before new: that is their order on the wire.
        var oldRow = oldTuple is null ? null : await _reader.ReadAsync(oldTuple, columns, ct).ConfigureAwait(false);
        var newRow = newTuple is null ? null : await _reader.ReadAsync(newTuple, columns, ct).ConfigureAwait(false);
        if (newRow is not null && _reloads is not null && schema.HasRecords && !ReferenceEquals(_altered.GetValueOrDefault(relationId), schema) &&
            !FitsItsComposites(schema, newRow))
        {
            // ALTER TYPE ... ADD/DROP ATTRIBUTE sends no message: the value's fields tell. The publication watcher looks now
            // (once per shape), and the table is loaded again with the type's new fields.
            _altered[relationId] = schema;
            _reloads.CompositeAltered();
        }
        buffer.Add(new RowChange(kind, schema, newRow, oldRow), message.TransactionXid ?? 0);
    }

    private static bool FitsItsComposites(TableSchema schema, byte[] row)
    {
        var view = new RowView(row);
        for (int i = 0; i < schema.Columns.Count && i < view.ColumnCount; i++)
            if (schema.Columns[i] is { Kind: PgTypeKind.Record, Record: { } shape } && view.State(i) == ColumnState.Value &&
                RecordRenderer.FieldCount(view.Value(i)) != shape.Fields.Count)
                return false;
        return true;
    }

    private void OnTruncate(TruncateMessage truncate)
    {
        var buffer = BufferFor(truncate);
        if (Skipping(buffer)) return;
        foreach (var relation in truncate.Relations)
        {
            var schema = _catalog.Find(relation.RelationId, buffer);
            if (schema is not null) buffer.Add(new RowChange(ChangeKind.Truncate, schema), truncate.TransactionXid ?? 0);
        }
    }

    private void Commit(TransactionBuffer buffer, NpgsqlLogSequenceNumber commitLsn, NpgsqlLogSequenceNumber endLsn, DateTime commitTime,
        bool skip)
    {
        try
        {
            var time = new DateTimeOffset(DateTime.SpecifyKind(commitTime, DateTimeKind.Utc));
            int count = buffer.Count;
            if (!skip)
            {
                if (buffer.Spilled)
                    _log.LogInformation("applying transaction {Xid} with {Changes} changes from its spill file", buffer.Xid, count);
                var commit = new Lsn((ulong)commitLsn);
                var end = new Lsn((ulong)endLsn);
                IEnumerable<RowChange> changes = buffer.TakeChanges();
                // Only what the target applies is new to tables being loaded (a replay or a resend is older than any load).
                bool applies = _target.Route(commit) == TransactionRoute.Apply;
                var tee = applies ? _reloads?.StartTee() : null;
                if (tee is not null) changes = tee.Wrap(changes);
                var markers = applies && buffer.Markers.Count > 0 ? _reloads?.OnMarkers(buffer.Markers) : null;
                if (markers is not null)
                {
                    changes = changes.Concat(markers.Changes);
                    count += markers.Changes.Count;
                }
                // The target applies, replays or ignores it by the same rule Begin consulted.
                _target.Apply(new Transaction(buffer.Xid, commit, end, time, count, changes));
                tee?.Commit(buffer.Xid, commit, end, time);
                if (markers is not null) _reloads!.Applied(markers, _catalog, end);
                _status.CountTransaction(count);
                _status.LastCommitTime = time;
            }
            _catalog.Commit(buffer);
            _status.AppliedLsn = _target.AppliedLsn;
        }
        finally
        {
            Close(buffer);
        }
    }

    private static InvalidDataException Protocol(string what) => new($"unexpected pgoutput message order: {what}");

    public void Dispose()
    {
        if (_current is not null) Close(_current);
        _current = null;
        foreach (var b in _streamed.Values) Close(b);
        _streamed.Clear();
    }
}
