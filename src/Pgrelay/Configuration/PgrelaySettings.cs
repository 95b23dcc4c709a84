namespace Pgrelay.Configuration;

/// <summary>
/// Every setting, bound from (highest first) command-line flags, <c>PGRELAY_*</c> environment variables,
/// and the optional JSON config file. Keys are the same everywhere: flag <c>--copy-parallelism</c>,
/// variable <c>PGRELAY_COPY_PARALLELISM</c>, file key <c>"copy-parallelism"</c>.
/// </summary>
public sealed class PgrelaySettings
{
    public string? Source { get; set; }
    public List<string> Publications { get; set; } = [];
    public string? Slot { get; set; }
    public int CopyParallelism { get; set; } = Replication.ReplicationOptions.DefaultCopyParallelism;
    public TimeSpan Heartbeat { get; set; } = TimeSpan.FromSeconds(10);
    public TimeSpan PublicationPoll { get; set; } = TimeSpan.FromSeconds(5);
    /// <summary>How long start-up waits for a source that is down or starting up; zero: for ever.</summary>
    public TimeSpan SourceWait { get; set; } = TimeSpan.Zero;
    public long SpillThresholdBytes { get; set; } = 64L * 1024 * 1024;
    public string? SpillDirectory { get; set; }
    /// <summary>Warn when the slot makes the server keep more WAL than this; 0 (<c>off</c>) turns the warning off.</summary>
    public long SlotRetentionWarningBytes { get; set; } = Replication.ReplicationOptions.DefaultSlotRetentionWarningBytes;
    /// <summary>How often the store writes a checkpoint into the state directory (zero: never).</summary>
    public TimeSpan CheckpointInterval { get; set; } = TimeSpan.FromSeconds(60);
    /// <summary>Also write a checkpoint once this much WAL was applied since the last one, before the interval is up (0: never).</summary>
    public long CheckpointWalBytes { get; set; } = 1024L * 1024 * 1024;
    public ListenAddress? Http { get; set; }
    /// <summary>The HTTPS listener (off unless set); it serves what HTTP serves, with <see cref="Tls"/>.</summary>
    public ListenAddress? Https { get; set; }
    /// <summary>Certificate, key and client CA for every TLS listener; null when no tls-cert-file is set.</summary>
    public TlsFiles? Tls { get; set; }
    public ListenAddress? Resp { get; set; }
    public ListenAddress? Memcached { get; set; }
    public string? RespPassword { get; set; }
    public string? AclFile { get; set; }
    /// <summary>Redis's protected-mode: while the default user needs no password, serve loopback clients only.</summary>
    public bool ProtectedMode { get; set; } = true;
    public string LogLevel { get; set; } = "Information";
    /// <summary>The config file, if any: sinks and rules are read from its "sinks" and "rules" sections.</summary>
    public string? ConfigFile { get; set; }
    /// <summary><c>--sink</c> values (repeatable): stdout, file:/path, webhook:URL, postgres:URL, redis-stream:host:port, redis-hash:host:port.</summary>
    public List<string> Sinks { get; set; } = [];
    /// <summary>Where sinks keep their checkpoints and the instance remembers its slot; without it sinks start over (initial
    /// load) and the instance takes a new slot at each start.</summary>
    public string? StateDirectory { get; set; }
    /// <summary>Most bytes of row images the change feed keeps for readers that resume (SSE, sinks).</summary>
    public long FeedMaxBytes { get; set; } = Store.Feed.ChangeFeed.DefaultMaxRetainedBytes;

    /// <summary>Redis and memcached connection limits (maxclients, timeout, buffer limits, maxconns).</summary>
    public ListenerLimitSettings Limits { get; set; } = new();

    /// <summary>Redis's tls-port: a Redis TLS listener on the <see cref="Resp"/> address, with <see cref="Tls"/> (0: none).</summary>
    public int TlsPort { get; set; }

    /// <summary>memcached over TLS, with <see cref="Tls"/>: a listen address like <c>memcached</c>; off by default.</summary>
    public ListenAddress? MemcachedTls { get; set; }

    public const string DefaultHttp = "127.0.0.1:8080";
    public const string DefaultResp = "127.0.0.1:6379";
    public const string DefaultMemcached = "127.0.0.1:11211";
}
