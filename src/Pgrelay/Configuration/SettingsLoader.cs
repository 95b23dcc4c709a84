using System.Globalization;
using System.Text.Json;

namespace Pgrelay.Configuration;

/// <summary>
/// Merges flags, environment and config file into <see cref="PgrelaySettings"/> and validates them.
/// Anything wrong becomes a <see cref="SettingsException"/> naming the setting.
/// </summary>
public static class SettingsLoader
{
    public static PgrelaySettings Load(IReadOnlyDictionary<string, string?> flags, IDictionary<string, string?>? environment = null)
    {
        environment ??= Environment.GetEnvironmentVariables().Cast<System.Collections.DictionaryEntry>()
            .ToDictionary(e => (string)e.Key, e => (string?)e.Value);
        var configFile = Pick(SettingKeys.Config, flags, environment, null);
        var file = ReadFile(configFile);

        string? Get(string key) => Pick(key, flags, environment, file);

        var settings = new PgrelaySettings
        {
            Source = Get(SettingKeys.Source),
            Slot = Get(SettingKeys.Slot),
            SpillDirectory = Get(SettingKeys.SpillDirectory),
            RespPassword = Get(SettingKeys.RespPassword),
            AclFile = Get(SettingKeys.AclFile),
            Http = ListenAddress.Parse(SettingKeys.Http, Get(SettingKeys.Http), PgrelaySettings.DefaultHttp),
            Resp = ListenAddress.Parse(SettingKeys.Resp, Get(SettingKeys.Resp), PgrelaySettings.DefaultResp),
            Memcached = ListenAddress.Parse(SettingKeys.Memcached, Get(SettingKeys.Memcached), PgrelaySettings.DefaultMemcached),
            Https = ListenAddress.Parse(SettingKeys.Https, Get(SettingKeys.Https), "off"),
            Tls = TlsFilesFrom(Get),
            ConfigFile = configFile,
            StateDirectory = Get(SettingKeys.StateDir),
        };
        // Repeated --sink flags arrive joined by newlines (one sink a line in PGRELAY_SINK too); file sinks are a "sinks" object.
        if (Get(SettingKeys.Sink) is { } sinks)
            settings.Sinks = sinks.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToList();
        bool cacheServersOff = false;
        if (Get(SettingKeys.CacheServers) is { } servers)
        {
            if (servers.Trim().ToLowerInvariant() is "off" or "false" or "no")
            {
                cacheServersOff = true;
                // Sinks only: no Redis or memcached listener. HTTP stays for /metrics and /status ('--http off' turns it off too).
                settings.Resp = null;
                settings.Memcached = null;
            }
            else if (servers.Trim().ToLowerInvariant() is not ("on" or "true" or "yes"))
                throw new SettingsException($"{SettingKeys.CacheServers}: '{servers}' must be on or off");
        }
        if (settings.Https is not null && settings.Tls is null)
            throw new SettingsException($"{SettingKeys.Https}: needs --{SettingKeys.TlsCertFile} and --{SettingKeys.TlsKeyFile}");
        if (Get(SettingKeys.ProtectedMode) is { } protectedMode) settings.ProtectedMode = YesNo(SettingKeys.ProtectedMode, protectedMode);
        if (Get(SettingKeys.Publication) is { } pubs)
            settings.Publications = pubs.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToList();
        if (Get(SettingKeys.CopyParallelism) is { } cp) settings.CopyParallelism = Integer(SettingKeys.CopyParallelism, cp, 1, 64);
        if (Get(SettingKeys.Heartbeat) is { } hb) settings.Heartbeat = Duration(SettingKeys.Heartbeat, hb);
        if (Get(SettingKeys.PublicationPoll) is { } poll) settings.PublicationPoll = Duration(SettingKeys.PublicationPoll, poll);
        if (Get(SettingKeys.SpillThreshold) is { } st) settings.SpillThresholdBytes = Size(SettingKeys.SpillThreshold, st);
        if (Get(SettingKeys.FeedMaxBytes) is { } fb && (settings.FeedMaxBytes = Size(SettingKeys.FeedMaxBytes, fb)) < 1)
            throw new SettingsException($"{SettingKeys.FeedMaxBytes}: '{fb}' must be at least 1 byte");
        if (Get(SettingKeys.CheckpointWal) is { } cw)
            settings.CheckpointWalBytes = cw.Trim().Equals("off", StringComparison.OrdinalIgnoreCase) ? 0 : Size(SettingKeys.CheckpointWal, cw);
        if (Get(SettingKeys.CheckpointInterval) is { } ci) settings.CheckpointInterval = Duration(SettingKeys.CheckpointInterval, ci);
        if (Get(SettingKeys.SourceWait) is { } sw) settings.SourceWait = Duration(SettingKeys.SourceWait, sw);
        if (Get(SettingKeys.SlotRetentionWarning) is { } srw)
            settings.SlotRetentionWarningBytes = srw.Trim().Equals("off", StringComparison.OrdinalIgnoreCase) ? 0 : Size(SettingKeys.SlotRetentionWarning, srw);
        LoadListenerLimits(settings.Limits, Get);
        if (!cacheServersOff) LoadTlsListeners(settings, Get);
        if (Get(SettingKeys.LogLevel) is { } level)
        {
            if (!Enum.TryParse<Microsoft.Extensions.Logging.LogLevel>(level, true, out var parsed))
                throw new SettingsException($"{SettingKeys.LogLevel}: '{level}' is not one of Trace, Debug, Information, Warning, Error, Critical, None");
            settings.LogLevel = parsed.ToString();
        }
        return settings;
    }

    private static void LoadListenerLimits(ListenerLimitSettings limits, Func<string, string?> get)
    {
        if (get(SettingKeys.MaxClients) is { } maxClients) limits.MaxClients = Integer(SettingKeys.MaxClients, maxClients, 1, 1_000_000);
        if (get(SettingKeys.Timeout) is { } timeout) limits.Timeout = Duration(SettingKeys.Timeout, timeout);
        if (get(SettingKeys.ClientQueryBufferLimit) is { } query) limits.ClientQueryBufferLimit = RedisMemory.Parse(SettingKeys.ClientQueryBufferLimit, query);
        if (get(SettingKeys.ProtoMaxBulkLen) is { } bulk) limits.ProtoMaxBulkLen = RedisMemory.Parse(SettingKeys.ProtoMaxBulkLen, bulk);
        if (get(SettingKeys.ClientOutputBufferLimit) is { } output) limits.ParseOutputLimits(output);
        if (get(SettingKeys.MaxConns) is { } maxConns) limits.MaxConns = Integer(SettingKeys.MaxConns, maxConns, 1, 1_000_000);
        if (get(SettingKeys.IoThreads) is { } threads) limits.IoThreads = Integer(SettingKeys.IoThreads, threads, 0, 64);
    }

    /// <summary>tls-port and memcached-tls: TLS listeners for the cache protocols, with the TLS files every listener shares.</summary>
    private static void LoadTlsListeners(PgrelaySettings settings, Func<string, string?> get)
    {
        if (get(SettingKeys.TlsPort) is { } port) settings.TlsPort = Integer(SettingKeys.TlsPort, port, 0, 65535);
        settings.MemcachedTls = get(SettingKeys.MemcachedTls) is { } memcachedTls ? ListenAddress.Parse(SettingKeys.MemcachedTls, memcachedTls, "off") : null;
        if ((settings.TlsPort != 0 || settings.MemcachedTls is not null) && settings.Tls is null)
            throw new SettingsException($"{(settings.TlsPort != 0 ? SettingKeys.TlsPort : SettingKeys.MemcachedTls)}: needs --{SettingKeys.TlsCertFile} and --{SettingKeys.TlsKeyFile}");
        if (settings.TlsPort != 0 && settings.Resp is null)
            throw new SettingsException($"{SettingKeys.TlsPort}: the Redis listener is off ('{SettingKeys.Resp}'), so there is no address to serve TLS on");
    }

    /// <summary>Checks what <c>run</c> needs beyond well-formed values.</summary>
    public static void RequireSource(PgrelaySettings settings)
    {
        if (string.IsNullOrWhiteSpace(settings.Source))
            throw new SettingsException($"{SettingKeys.Source}: no source database given (--source postgres://user@host/db, or {SettingKeys.EnvironmentName(SettingKeys.Source)})");
        if (settings.Publications.Count == 0)
            throw new SettingsException($"{SettingKeys.Publication}: name at least one publication (--publication name[,name...], or {SettingKeys.EnvironmentName(SettingKeys.Publication)})");
        // Protected by default, like Redis: a cache of database rows is not opened to the network by accident.
        if (settings.Resp is { IsLoopback: false } resp && settings.ProtectedMode && settings.RespPassword is null && settings.AclFile is null)
            throw new SettingsException($"{SettingKeys.Resp}: refusing to listen on {resp} without a password; set --{SettingKeys.RespPassword} or --{SettingKeys.AclFile}, bind to 127.0.0.1, or set --{SettingKeys.ProtectedMode} no");
    }

    private static string? Pick(string key, IReadOnlyDictionary<string, string?> flags, IDictionary<string, string?> environment,
        Dictionary<string, string>? file)
    {
        if (flags.TryGetValue(key, out var flag) && flag is not null) return flag;
        if (environment.TryGetValue(SettingKeys.EnvironmentName(key), out var env) && !string.IsNullOrEmpty(env)) return env;
        if (file is not null && file.TryGetValue(key, out var fromFile)) return fromFile;
        return null;
    }

    private static Dictionary<string, string>? ReadFile(string? path)
    {
        if (path is null) return null;
        if (!File.Exists(path)) throw new SettingsException($"{SettingKeys.Config}: file '{path}' does not exist");
        try
        {
            using var document = JsonDocument.Parse(File.ReadAllText(path), new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
            if (document.RootElement.ValueKind != JsonValueKind.Object)
                throw new SettingsException($"{SettingKeys.Config}: '{path}' must hold a JSON object of settings");
            var result = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            foreach (var property in document.RootElement.EnumerateObject())
            {
                if (!SettingKeys.All.Contains(property.Name, StringComparer.OrdinalIgnoreCase))
                {
                    // Sections owned by later features (sinks, rules) are objects; unknown scalars are typos.
                    if (property.Value.ValueKind is JsonValueKind.Object or JsonValueKind.Array) continue;
                    throw new SettingsException($"{SettingKeys.Config}: unknown setting '{property.Name}' in '{path}' (known: {string.Join(", ", SettingKeys.All.Skip(1))})");
                }
                result[property.Name] = property.Value.ValueKind switch
                {
                    JsonValueKind.String => property.Value.GetString()!,
                    JsonValueKind.Array => string.Join(",", property.Value.EnumerateArray().Select(e => e.ToString())),
                    _ => property.Value.GetRawText(),
                };
            }
            return result;
        }
        catch (JsonException e)
        {
            throw new SettingsException($"{SettingKeys.Config}: '{path}' is not valid JSON (line {e.LineNumber + 1}: {e.Message.Split('.')[0]})");
        }
    }

    /// <summary>
    /// The TLS files, checked for presence here and for content by the host. Client certificates are required by default
    /// when a CA is given (Redis's tls-auth-clients yes) and not asked for without one; yes or optional without a CA is an error.
    /// </summary>
    private static TlsFiles? TlsFilesFrom(Func<string, string?> get)
    {
        string? cert = get(SettingKeys.TlsCertFile), key = get(SettingKeys.TlsKeyFile), ca = get(SettingKeys.TlsCaCertFile), auth = get(SettingKeys.TlsAuthClients);
        if (cert is null && key is null && ca is null && auth is null) return null;
        if (cert is null) throw new SettingsException($"{SettingKeys.TlsCertFile}: not set (TLS needs --{SettingKeys.TlsCertFile} and --{SettingKeys.TlsKeyFile})");
        if (key is null) throw new SettingsException($"{SettingKeys.TlsKeyFile}: not set (TLS needs --{SettingKeys.TlsCertFile} and --{SettingKeys.TlsKeyFile})");
        var mode = auth?.Trim().ToLowerInvariant() switch
        {
            null => ca is null ? TlsClientAuthentication.No : TlsClientAuthentication.Yes,
            "no" => TlsClientAuthentication.No,
            "yes" => TlsClientAuthentication.Yes,
            "optional" => TlsClientAuthentication.Optional,
            _ => throw new SettingsException($"{SettingKeys.TlsAuthClients}: '{auth}' must be no, yes or optional"),
        };
        if (mode != TlsClientAuthentication.No && ca is null)
            throw new SettingsException($"{SettingKeys.TlsAuthClients}: '{auth}' needs --{SettingKeys.TlsCaCertFile}, the CA client certificates must chain to");
        return new TlsFiles(cert, key, ca, mode);
    }

    /// <summary>Redis's spelling (yes/no) and the usual synonyms.</summary>
    internal static bool YesNo(string key, string text) => text.Trim().ToLowerInvariant() switch
    {
        "yes" or "on" or "true" => true,
        "no" or "off" or "false" => false,
        _ => throw new SettingsException($"{key}: '{text}' must be yes or no"),
    };

    private static int Integer(string key, string text, int min, int max) =>
        int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out int value) && value >= min && value <= max
            ? value
            : throw new SettingsException($"{key}: '{text}' must be a whole number from {min} to {max}");

    /// <summary>Seconds, or a number with ms/s/m suffix.</summary>
    internal static TimeSpan Duration(string key, string text)
    {
        var t = text.Trim().ToLowerInvariant();
        double scale = 1;
        if (t.EndsWith("ms")) { scale = 0.001; t = t[..^2]; }
        else if (t.EndsWith('s')) t = t[..^1];
        else if (t.EndsWith('m')) { scale = 60; t = t[..^1]; }
        if (!double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out double value) || value < 0)
            throw new SettingsException($"{key}: '{text}' is not a duration (e.g. 10s, 500ms, 1m; 0 turns it off)");
        return TimeSpan.FromSeconds(value * scale);
    }

    /// <summary>Bytes, or a number with kB/MB/GB suffix (powers of 1024, like PostgreSQL).</summary>
    internal static long Size(string key, string text)
    {
        var t = text.Trim().ToUpperInvariant();
        long scale = 1;
        foreach (var (suffix, factor) in new[] { ("KB", 1024L), ("MB", 1024L * 1024), ("GB", 1024L * 1024 * 1024), ("B", 1L) })
            if (t.EndsWith(suffix)) { scale = factor; t = t[..^suffix.Length].Trim(); break; }
        if (!long.TryParse(t, NumberStyles.Integer, CultureInfo.InvariantCulture, out long value) || value < 0)
            throw new SettingsException($"{key}: '{text}' is not a size (e.g. 64MB, 512kB, 1GB)");
        return value * scale;
    }
}
