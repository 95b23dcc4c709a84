namespace Pgrelay.Configuration;

/// <summary>The names of settings, shared by flags, environment variables and the config file.</summary>
public static class SettingKeys
{
    public const string Config = "config";
    public const string Source = "source";
    public const string Publication = "publication";
    public const string Slot = "slot";
    public const string CopyParallelism = "copy-parallelism";
    public const string Heartbeat = "heartbeat";
    public const string PublicationPoll = "publication-poll";
    public const string SpillThreshold = "spill-threshold";
    public const string SpillDirectory = "spill-directory";
    public const string Http = "http";
    public const string Https = "https";
    public const string TlsCertFile = "tls-cert-file";
    public const string TlsKeyFile = "tls-key-file";
    public const string TlsCaCertFile = "tls-ca-cert-file";
    public const string TlsAuthClients = "tls-auth-clients";
    public const string Resp = "resp";
    public const string Memcached = "memcached";
    public const string RespPassword = "requirepass";
    public const string AclFile = "aclfile";
    public const string ProtectedMode = "protected-mode";
    public const string LogLevel = "log-level";
    public const string Sink = "sink";
    public const string StateDir = "state-dir";
    public const string CacheServers = "cache-servers";
    public const string FeedMaxBytes = "feed-max-bytes";
    public const string SlotRetentionWarning = "slot-retention-warning";
    public const string CheckpointInterval = "checkpoint-interval";
    public const string SourceWait = "source-wait";
    public const string CheckpointWal = "checkpoint-wal";

    // Redis listener limits and TLS listeners, named as in redis.conf; memcached's as in its -o options and stats.
    public const string MaxClients = "maxclients";
    public const string Timeout = "timeout";
    public const string ClientQueryBufferLimit = "client-query-buffer-limit";
    public const string ProtoMaxBulkLen = "proto-max-bulk-len";
    public const string ClientOutputBufferLimit = "client-output-buffer-limit";
    public const string MaxConns = "maxconns";
    public const string TlsPort = "tls-port";
    public const string MemcachedTls = "memcached-tls";
    public const string IoThreads = "io-threads";

    public static readonly string[] All =
        [Config, Source, Publication, Slot, CopyParallelism, Heartbeat, PublicationPoll, SpillThreshold, SpillDirectory, Http, Https, TlsCertFile, TlsKeyFile, TlsCaCertFile, TlsAuthClients, Resp, Memcached, RespPassword, AclFile, ProtectedMode, LogLevel,
         Sink, StateDir, CacheServers, SlotRetentionWarning, FeedMaxBytes, CheckpointInterval, SourceWait, CheckpointWal,
         MaxClients, Timeout, ClientQueryBufferLimit, ProtoMaxBulkLen, ClientOutputBufferLimit, MaxConns, TlsPort, MemcachedTls, IoThreads];

    /// <summary>copy-parallelism → PGRELAY_COPY_PARALLELISM</summary>
    public static string EnvironmentName(string key) => "PGRELAY_" + key.Replace('-', '_').ToUpperInvariant();
}
