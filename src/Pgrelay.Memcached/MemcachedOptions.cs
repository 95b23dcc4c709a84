using System.Net;

namespace Pgrelay.Memcached;

/// <summary>Settings of the memcached-protocol listener, bound by the host from flags, environment or file.</summary>
public sealed class MemcachedOptions
{
    /// <summary>memcached's own limit on key length; clients already respect it.</summary>
    public const int MaxKeyLength = 250;

    public bool Enabled { get; set; } = true;
    public IPAddress BindAddress { get; set; } = IPAddress.Loopback;
    public int Port { get; set; } = 11211;

    /// <summary>
    /// memcached closes a connection whose line reaches this many bytes without a newline, unless it is a get/gets (a
    /// multi-get may be long); a line whose newline has arrived is read whatever its length, as memcached reads it.
    /// </summary>
    public int MaxLineLength { get; set; } = 2048;

    /// <summary>
    /// Longest get/gets line accepted (any number of keys, as memcached). memcached has no bound here; pgrelay closes a
    /// longer line with <c>CLIENT_ERROR line too long</c>, so one connection cannot hold unbounded memory.
    /// </summary>
    public int MaxGetLineLength { get; set; } = 1024 * 1024;

    /// <summary>
    /// memcached's <c>maxconns</c> (<c>-c</c>, default 1024): connections beyond this get <c>ERROR Too many open
    /// connections</c> and are closed. memcached counts its own file descriptors against it, so it refuses a few
    /// connections earlier; pgrelay counts client connections only.
    /// </summary>
    public int MaxConnections { get; set; } = 1024;

    /// <summary>
    /// Memory for the JSON of recently read rows, so hot rows are rendered once per version rather than once per
    /// read. 0 renders every read. Values larger than 1/1024 of this are never cached.
    /// </summary>
    public long RenderCacheBytes { get; set; } = 64L * 1024 * 1024;

    /// <summary>
    /// Reported by <c>version</c> and <c>stats</c>. Clients parse the leading major.minor.patch (libmemcached
    /// with strtol) to decide on features such as the meta protocol, so keep it a 1.6 version; a suffix is
    /// allowed, as in memcached's own development builds.
    /// </summary>
    public string ReportedVersion { get; set; } = "1.6.21-pgrelay";

    public IPEndPoint EndPoint => new(BindAddress, Port);

    /// <summary>Checks the settings as the host starts; throws with one line naming the setting.</summary>
    public void Validate()
    {
        if (Port is < 0 or > 65535) throw new InvalidOperationException($"memcached.port: {Port} is not a TCP port (0-65535)");
        if (MaxLineLength < 512) throw new InvalidOperationException($"memcached.max-line-length: must be at least 512 (got {MaxLineLength})");
        if (MaxGetLineLength < MaxLineLength) throw new InvalidOperationException($"memcached: the longest get line ({MaxGetLineLength}) must be at least the line limit ({MaxLineLength})");
        if (RenderCacheBytes is < 0 or > 64L * 1024 * 1024 * 1024)
            throw new InvalidOperationException($"memcached.render-cache-bytes: must be 0-68719476736 (got {RenderCacheBytes})");
        if (MaxConnections < 1) throw new InvalidOperationException($"memcached.maxconns: must be at least 1 (got {MaxConnections})");
        if (string.IsNullOrWhiteSpace(ReportedVersion) || ReportedVersion.Any(c => c is ' ' or '\r' or '\n' || c > 126))
            throw new InvalidOperationException($"memcached.version: '{ReportedVersion}' must be one printable ASCII word such as 1.6.21");
    }
}
