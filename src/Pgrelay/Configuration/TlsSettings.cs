namespace Pgrelay.Configuration;

/// <summary>TLS for the Redis and memcached listeners, with redis.conf's names.</summary>
public sealed class TlsSettings
{
    /// <summary>Redis <c>tls-port</c>: a TLS listener on the Redis bind address (0: none).</summary>
    public int Port { get; set; }

    public string? CertFile { get; set; }
    public string? KeyFile { get; set; }

    /// <summary>CA certificates client certificates must chain to; without it no client certificate is asked for.</summary>
    public string? CaCertFile { get; set; }

    /// <summary>Redis <c>tls-auth-clients</c>: yes (default), no or optional; applies when a CA is configured.</summary>
    public string AuthClients { get; set; } = "yes";

    public bool Enabled => CertFile is not null;
}
