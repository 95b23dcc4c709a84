using System.Diagnostics;
using Pgrelay.Store;

namespace Pgrelay.Memcached.Server;

/// <summary>What every memcached connection shares: the store it reads, its limits and the server-wide counters.</summary>
public sealed class MemcachedServer(ReplicatedStore store, MemcachedOptions options)
{
    private readonly long _started = Stopwatch.GetTimestamp();
    private int _verbosity;

    public ReplicatedStore Store { get; } = store;
    public MemcachedOptions Options { get; } = options;
    public MemcachedStats Stats { get; } = new();

    /// <summary>maxconns, shared by the plain and TLS listeners.</summary>
    public Transport.ConnectionQuota Quota { get; } = new(options.MaxConnections);

    /// <summary>What the listeners build sessions with.</summary>
    public MemcachedSessionFactory Sessions => _sessions ??= new MemcachedSessionFactory(this);

    private MemcachedSessionFactory? _sessions;

    /// <summary>What the transport enforces on each memcached connection (no idle timeout or output limits, as in memcached's defaults).</summary>
    public Transport.ConnectionLimits ConnectionLimits { get; } = new() { PubSub = Transport.OutputBufferLimit.None };

    /// <summary>Clients connected to the memcached listener right now (memcached's <c>curr_connections</c>).</summary>
    public long ConnectedClients => Interlocked.Read(ref Stats.CurrentConnections);

    internal RenderedRowCache Rendered { get; } = new(options.RenderCacheBytes);

    internal byte[] Utf8Version { get; } = System.Text.Encoding.ASCII.GetBytes(options.ReportedVersion);

    public TimeSpan Uptime => Stopwatch.GetElapsedTime(_started);

    /// <summary>Accepted and echoed in <c>stats settings</c>; pgrelay logs through Microsoft.Extensions.Logging instead.</summary>
    internal int Verbosity
    {
        get => Volatile.Read(ref _verbosity);
        set => Volatile.Write(ref _verbosity, value);
    }
}
