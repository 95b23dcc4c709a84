using Pgrelay.Sinks.Events;
using StackExchange.Redis;

namespace Pgrelay.Sinks.Targets;

/// <summary>
/// XADDs every event to one stream, trimmed with <c>MAXLEN ~ max-length</c> (approximate trimming is what keeps XADD
/// cheap). Entry fields: <c>id</c> (the idempotency key), <c>op</c>, <c>table</c>, <c>key</c> and <c>event</c> (the JSON
/// document). Entry ids are Redis's own: consumers de-duplicate retried batches by the <c>id</c> field.
/// A batch is pipelined in pieces of at most <paramref name="batchBytes"/> of event JSON (each awaited before the next, so
/// a batch of big rows is never all in memory at once), and awaited as a whole before the checkpoint moves.
/// </summary>
public sealed class RedisStreamTarget(string address, string stream, long maxLength, long batchBytes = Configuration.SinkDefinition.DefaultBatchBytes)
    : ISinkTarget
{
    private static readonly RedisValue IdField = "id", OpField = "op", TableField = "table", KeyField = "key", EventField = "event";
    private ConnectionMultiplexer? _redis;
    private readonly RedisKey _stream = stream;

    public async Task OpenAsync(CancellationToken ct)
    {
        if (_redis is { IsConnected: true }) return;
        if (_redis is not null) await _redis.DisposeAsync().ConfigureAwait(false);
        _redis = await RedisConnections.ConnectAsync(address).ConfigureAwait(false);
    }

    public async Task DeliverAsync(SinkBatch batch, CancellationToken ct)
    {
        if (batch.Events.Count == 0) return;
        var db = (_redis ?? throw new InvalidOperationException("not connected to Redis")).GetDatabase();
        var pending = new List<Task>(Math.Min(batch.Events.Count, 1024));
        long bytes = 0;
        for (int i = 0; i < batch.Events.Count; i++)
        {
            var e = batch.Events[i];
            var table = e.Table is null ? RedisValue.EmptyString : (RedisValue)(e.Table.Schema + "." + e.Table.Name);
            var json = EventJson.ToBytes(e);
            if (pending.Count > 0 && bytes + json.Length > batchBytes)
            {
                await Task.WhenAll(pending).WaitAsync(ct).ConfigureAwait(false);
                pending.Clear();
                bytes = 0;
            }
            NameValueEntry[] fields =
            [
                new(IdField, e.Id),
                new(OpField, e.OpName),
                new(TableField, table),
                new(KeyField, e.Key ?? RedisValue.EmptyString),
                new(EventField, json),
            ];
            bytes += json.Length;
            pending.Add(db.StreamAddAsync(_stream, fields, maxLength: maxLength, useApproximateMaxLength: true));
        }
        await Task.WhenAll(pending).WaitAsync(ct).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        if (_redis is not null) await _redis.DisposeAsync().ConfigureAwait(false);
        _redis = null;
    }
}
