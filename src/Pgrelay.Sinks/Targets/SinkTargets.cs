using Pgrelay.Sinks.Configuration;
using Pgrelay.Store;

namespace Pgrelay.Sinks.Targets;

/// <summary>Makes the target a sink definition names.</summary>
public static class SinkTargets
{
    public static ISinkTarget Create(SinkDefinition sink, ReplicatedStore store) => sink.Type switch
    {
        SinkType.Stdout => new StdoutTarget(batchBytes: sink.BatchBytes),
        SinkType.File => new FileTarget(sink.Target!, sink.MaxFileBytes, sink.MaxFileAge, batchBytes: sink.BatchBytes),
        SinkType.Webhook => new WebhookTarget(new Uri(sink.Target!), sink.Secret, sink.Timeout, sink.MaxAttempts, batchBytes: sink.BatchBytes),
        SinkType.Postgres => new PostgresTarget(sink.Target!, sink.Name, sink.TargetSchema),
        SinkType.RedisStream => new RedisStreamTarget(sink.Target!, sink.Stream, sink.MaxLength, sink.BatchBytes),
        _ => new RedisHashTarget(sink.Target!, sink.Prefix, store),
    };
}
