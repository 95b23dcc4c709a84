namespace Pgrelay.Sinks.Configuration;

public enum SinkType { Stdout, File, Webhook, Postgres, RedisStream, RedisHash }

/// <summary>Everything the sinks need: where checkpoints live, the sinks, and the rules. Built by <see cref="SinkSettingsParser"/>.</summary>
public sealed class SinkSettings
{
    /// <summary>One checkpoint file per sink lives here. Without it checkpoints are kept in memory only: each start reloads.</summary>
    public string? StateDirectory { get; set; }
    public List<SinkDefinition> Sinks { get; set; } = [];
    public List<RuleDefinition> Rules { get; set; } = [];

    /// <summary>Back-off between a failing sink's retries: doubling from the initial delay up to the maximum.</summary>
    public TimeSpan RetryInitialDelay { get; set; } = TimeSpan.FromMilliseconds(500);
    public TimeSpan RetryMaxDelay { get; set; } = TimeSpan.FromSeconds(30);

    public bool Any => Sinks.Count > 0;
}

/// <summary>One sink. Which properties matter depends on <see cref="Type"/>; see docs/sinks.md.</summary>
public sealed class SinkDefinition
{
    public required string Name { get; init; }
    public required SinkType Type { get; init; }
    /// <summary>file: path; webhook: URL; postgres: postgres:// URL or connection string; redis-*: host:port.</summary>
    public string? Target { get; set; }
    /// <summary>Emit BEGIN/COMMIT events around each transaction's changes.</summary>
    public bool Transactions { get; set; }
    /// <summary>Most events per delivery (whole transactions are never split across deliveries of the checkpoint).</summary>
    public int BatchSize { get; set; } = 1000;
    /// <summary>
    /// Most bytes of JSON in one write or request of the sinks that send documents (stdout, file, webhook, redis-stream):
    /// a batch goes out in as many pieces as it needs; one event larger than this goes alone.
    /// </summary>
    public long BatchBytes { get; set; } = DefaultBatchBytes;
    public const long DefaultBatchBytes = 4L * 1024 * 1024;

    // file
    public long MaxFileBytes { get; set; }
    public TimeSpan MaxFileAge { get; set; }
    // webhook
    public string? Secret { get; set; }
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(10);
    public int MaxAttempts { get; set; } = 5;
    // postgres
    public string? TargetSchema { get; set; }
    // redis-stream
    public string Stream { get; set; } = "pgrelay.changes";
    public long MaxLength { get; set; } = 1_000_000;
    // redis-hash
    public string? Prefix { get; set; }

    public override string ToString() => $"{Name} ({SinkSettingsParser.TypeName(Type)})";
}

/// <summary>One rule: which tables and operations it covers, and what it does to them (filter, transform, route).</summary>
public sealed class RuleDefinition
{
    public required string Name { get; init; }
    /// <summary>"orders" (schema public), "sales.orders", "sales.*" or "*".</summary>
    public string Table { get; set; } = "*";
    /// <summary>c, u, d, t, r; empty means all.</summary>
    public List<char> Ops { get; set; } = [];
    /// <summary>Sinks the rule applies to; empty means all.</summary>
    public List<string> Sinks { get; set; } = [];
    public List<ConditionDefinition> Filter { get; set; } = [];
    public List<TransformDefinition> Transform { get; set; } = [];
    public RouteDefinition? Route { get; set; }
}

public enum ConditionOp { Eq, Ne, Gt, Gte, Lt, Lte, In, Contains, Regex, IsNull, NotNull }

/// <summary>column op value; a value of null (JSON null) is only allowed for is-null / not-null.</summary>
public sealed record ConditionDefinition(string Column, ConditionOp Op, IReadOnlyList<string?> Values);

public enum TransformType { RegexReplace, Mask, Hash, Drop }

public sealed record TransformDefinition(string Column, TransformType Type, string? Pattern = null, string? Replacement = null,
    int KeepFirst = 0, int KeepLast = 0, char MaskChar = '*');

public sealed record RouteDefinition(string? Schema, string? Table, IReadOnlyDictionary<string, string> Columns);
