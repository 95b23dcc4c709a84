using Pgrelay.Sinks.Events;
using StackExchange.Redis;

namespace Pgrelay.Sinks.Targets;

/// <summary>
/// XADDs every event to one stream, trimmed with <c>MAXLEN ~ max-length</c> (approximate trimming is what keeps XADD
/// cheap). Entry fields: <c>id</c> (the idempotency key), <c>op</c>, <c>table</c>, <c>key</c> and <c>event</c> (the JSON
/// document). Entry ids are Redis's own: consumers de-duplicate retried batches by the <c>id</c> field.
/// A batch is pipelined and awaited as a whole before the checkpoint moves.
/// </summary>
public sealed class RedisStreamTarget(string address, string stream, long maxLength) : ISinkTarget
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
        var pending = new Task[batch.Events.Count];
        for (int i = 0; i < pending.Length; i++)
        {
            var e = batch.Events[i];
            var table = e.Table is null ? RedisValue.EmptyString : (RedisValue)(e.Table.Schema + "." + e.Table.Name);
            NameValueEntry[] fields =
            [
                new(IdField, e.Id),
                new(OpField, e.OpName),
                new(TableField, table),
                new(KeyField, e.Key ?? RedisValue.EmptyString),
                new(EventField, EventJson.ToBytes(e)),
            ];
            pending[i] = db.StreamAddAsync(_stream, fields, maxLength: maxLength, useApproximateMaxLength: true);
        }
        await Task.WhenAll(pending).WaitAsync(ct).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        if (_redis is not null) await _redis.DisposeAsync().ConfigureAwait(false);
        _redis = null;
    }
}
