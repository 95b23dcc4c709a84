using Pgrelay.Transport;

namespace Pgrelay.Configuration;

/// <summary>Limits of the Redis and memcached listeners, with Redis 7's and memcached 1.6's names and defaults.</summary>
public sealed class ListenerLimitSettings
{
    public int MaxClients { get; set; } = 10_000;
    public TimeSpan Timeout { get; set; } = TimeSpan.Zero;
    public long ClientQueryBufferLimit { get; set; } = 1024L * 1024 * 1024;
    public long ProtoMaxBulkLen { get; set; } = 512L * 1024 * 1024;
    public OutputBufferLimit OutputNormal { get; set; } = OutputBufferLimit.None;
    public OutputBufferLimit OutputPubSub { get; set; } = OutputBufferLimit.PubSubDefault;
    public int MaxConns { get; set; } = 1024;

    /// <summary>Event loop threads for plain connections (0: one per core, at most 4).</summary>
    public int IoThreads { get; set; }

    /// <summary>
    /// Redis's <c>client-output-buffer-limit</c> syntax: one or more <c>&lt;class&gt; &lt;hard&gt; &lt;soft&gt; &lt;seconds&gt;</c>
    /// groups, class normal, pubsub or replica (accepted and ignored: pgrelay has no replicas).
    /// </summary>
    internal void ParseOutputLimits(string text)
    {
        var words = text.Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (words.Length == 0 || words.Length % 4 != 0)
            throw new SettingsException($"{SettingKeys.ClientOutputBufferLimit}: '{text}' must be groups of <class> <hard> <soft> <seconds>");
        for (int i = 0; i < words.Length; i += 4)
        {
            long hard = RedisMemory.Parse(SettingKeys.ClientOutputBufferLimit, words[i + 1]);
            long soft = RedisMemory.Parse(SettingKeys.ClientOutputBufferLimit, words[i + 2]);
            if (!int.TryParse(words[i + 3], out int seconds) || seconds < 0)
                throw new SettingsException($"{SettingKeys.ClientOutputBufferLimit}: '{words[i + 3]}' is not a number of seconds");
            var limit = new OutputBufferLimit(hard, soft, seconds);
            switch (words[i].ToLowerInvariant())
            {
                case "normal": OutputNormal = limit; break;
                case "pubsub": OutputPubSub = limit; break;
                case "replica" or "slave": break;
                default: throw new SettingsException($"{SettingKeys.ClientOutputBufferLimit}: unknown class '{words[i]}' (normal, pubsub or replica)");
            }
        }
    }
}

/// <summary>Redis's memory units: a plain number of bytes, or k/kb, m/mb, g/gb (kb = 1024, k = 1000), any case.</summary>
internal static class RedisMemory
{
    public static long Parse(string key, string text)
    {
        var t = text.Trim().ToLowerInvariant();
        (string Suffix, long Factor)[] units = [("gb", 1L << 30), ("mb", 1L << 20), ("kb", 1L << 10), ("g", 1_000_000_000), ("m", 1_000_000), ("k", 1000), ("b", 1)];
        long factor = 1;
        foreach (var (suffix, f) in units)
            if (t.EndsWith(suffix, StringComparison.Ordinal)) { factor = f; t = t[..^suffix.Length]; break; }
        if (!long.TryParse(t, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out long value) || value > long.MaxValue / factor)
            throw new SettingsException($"{key}: '{text}' is not a size (bytes, or with kb, mb, gb as in redis.conf)");
        return value * factor;
    }
}
