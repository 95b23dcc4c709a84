using Pgrelay.Store;
using Pgrelay.Transport.Tls;

namespace Pgrelay.Memcached.Tests;

/// <summary>
/// A real memcached listener (pgrelay's transport, its own event loop) on a free loopback port over a real
/// <see cref="ReplicatedStore"/>, as the host wires it.
/// </summary>
public class MemcachedServerFixture : IAsyncLifetime
{
    private TestListener? _listener;

    public ReplicatedStore Store { get; } = TestData.NewStore();
    public int Port => _listener!.Port;

    /// <summary>The server object the host would show on its dashboard.</summary>
    public Server.MemcachedServer Server { get; private set; } = null!;

    protected virtual MemcachedOptions Options => new();

    /// <summary>TLS instead of plain TCP (null: plain).</summary>
    protected virtual TlsEndpointOptions? Tls => null;

    public Task InitializeAsync()
    {
        var options = Options;
        options.Validate();
        Server = new Server.MemcachedServer(Store, options);
        _listener = TestListener.Start(Server.Sessions, Server.Quota, Server.ConnectionLimits, Tls);
        options.Port = _listener.Port;
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        if (_listener is not null) await _listener.DisposeAsync();
    }

    public RawClient Connect() => new(Port);

    /// <summary>Stops the server gracefully, as the host does on Ctrl+C.</summary>
    public Task StopAsync(CancellationToken ct = default) => _listener!.StopAsync(ct);
}

/// <summary>A server that admits only two connections at once.</summary>
public sealed class SmallServerFixture : MemcachedServerFixture
{
    protected override MemcachedOptions Options => new() { MaxConnections = 2 };
}
