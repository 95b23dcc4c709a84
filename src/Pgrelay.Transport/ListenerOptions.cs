using System.Net;
using Pgrelay.Transport.Tls;

namespace Pgrelay.Transport;

/// <summary>One listening socket: where, with which limits, and whether it speaks TLS.</summary>
public sealed record ListenerOptions(IPEndPoint EndPoint)
{
    public ConnectionLimits Limits { get; init; } = new();

    /// <summary>Null: plain TCP.</summary>
    public TlsEndpointOptions? Tls { get; init; }

    /// <summary>Redis's <c>tcp-backlog</c> default.</summary>
    public int Backlog { get; init; } = 511;

    /// <summary>A name for log lines ("redis", "memcached-tls").</summary>
    public string Name { get; init; } = "listener";
}
