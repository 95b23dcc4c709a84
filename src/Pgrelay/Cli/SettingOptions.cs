using System.CommandLine;
using Pgrelay.Configuration;

namespace Pgrelay.Cli;

/// <summary>One command-line option per setting; values stay strings so flags, environment and file share one parser.</summary>
internal sealed class SettingOptions
{
    private readonly Dictionary<string, Option<string>> _options = new();

    public SettingOptions()
    {
        Add(SettingKeys.Config, "JSON config file with the same keys as the flags");
        Add(SettingKeys.Source, "source database: postgres://user:pass@host:port/db or an Npgsql connection string");
        Add(SettingKeys.Publication, "publication(s) to replicate, comma-separated");
        Add(SettingKeys.Slot, "logical replication slot name (default: one of this instance's own, pgrelay_<database>_<random>)");
        Add(SettingKeys.CopyParallelism, "connections copying the initial snapshot (default 3)");
        Add(SettingKeys.Heartbeat, "interval of heartbeat messages that keep an idle slot moving (default 10s, 0 = off)");
        Add(SettingKeys.PublicationPoll, "how often publications are checked for added, removed or altered tables (default 5s, 0 = off)");
        Add(SettingKeys.SpillThreshold, "bytes of one transaction kept in memory before spilling to disk (default 64MB)");
        Add(SettingKeys.SpillDirectory, "where big transactions spill (default: system temp)");
        Add(SettingKeys.SourceWait, "how long start-up retries a source that is down or starting up before it gives up (default 0 = for ever)");
        Add(SettingKeys.CheckpointInterval, "with state-dir: how often the store writes a checkpoint to restart from without a copy (default 60s, 0 = off)");
        Add(SettingKeys.CheckpointWal, "with state-dir: also write a checkpoint after this much WAL was applied since the last one (default 1GB, 'off' to disable)");
        Add(SettingKeys.SlotRetentionWarning, "warn when the slot makes the server keep more WAL than this (default 1GB, 'off' to disable)");
        Add(SettingKeys.Http, $"HTTP listen address (default {PgrelaySettings.DefaultHttp}, 'off' to disable)");
        Add(SettingKeys.Https, "HTTPS listen address (default off; needs --tls-cert-file and --tls-key-file)");
        Add(SettingKeys.TlsCertFile, "PEM certificate (then any intermediates) for every TLS listener; reloaded when the file changes");
        Add(SettingKeys.TlsKeyFile, "PEM private key of --tls-cert-file");
        Add(SettingKeys.TlsCaCertFile, "PEM CA certificate(s) that client certificates must chain to (mutual TLS)");
        Add(SettingKeys.TlsAuthClients, "no, yes or optional: whether TLS clients must present a certificate (default yes with --tls-ca-cert-file, else no)");
        Add(SettingKeys.Resp, $"Redis protocol listen address (default {PgrelaySettings.DefaultResp}, 'off' to disable)");
        Add(SettingKeys.Memcached, $"memcached protocol listen address (default {PgrelaySettings.DefaultMemcached}, 'off' to disable)");
        Add(SettingKeys.RespPassword, "password of the Redis 'default' user (like requirepass)");
        Add(SettingKeys.AclFile, "Redis ACL file loaded at start");
        Add(SettingKeys.ProtectedMode, "yes (default): while the Redis 'default' user needs no password, serve loopback clients only; no: serve everyone");
        Add(SettingKeys.LogLevel, "Trace, Debug, Information (default), Warning, Error");
        Add(SettingKeys.StateDir, "directory for sink checkpoints and this instance's slot name (without it sinks reload from a snapshot and the instance takes a new slot at each start)");
        Add(SettingKeys.CacheServers, "off: run sinks only, without the Redis and memcached listeners (HTTP stays for /metrics and /status)");
        _sinks = new Option<string[]>("--" + SettingKeys.Sink)
        {
            Description = $"a sink, repeatable: stdout, file:/path, webhook:https://..., postgres:postgres://..., redis-stream:host:port[/stream], " +
                          $"redis-hash:host:port [env {SettingKeys.EnvironmentName(SettingKeys.Sink)}, one a line]",
            Arity = ArgumentArity.ZeroOrMore,
        };
    }

    private readonly Option<string[]> _sinks;

    private void Add(string key, string description) =>
        _options[key] = new Option<string>("--" + key) { Description = $"{description} [env {SettingKeys.EnvironmentName(key)}]" };

    public void AddTo(Command command)
    {
        foreach (var option in _options.Values) command.Options.Add(option);
        command.Options.Add(_sinks);
    }

    public Dictionary<string, string?> Flags(ParseResult result)
    {
        var flags = _options.ToDictionary(kv => kv.Key, kv => result.GetValue(kv.Value));
        flags[SettingKeys.Sink] = result.GetValue(_sinks) is { Length: > 0 } sinks ? string.Join('\n', sinks) : null;
        return flags;
    }
}
