using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Pgrelay.Store;

namespace Pgrelay.Memcached.Tests;

/// <summary>
/// A real Kestrel server on a free loopback port running <see cref="MemcachedConnectionHandler"/> over a real
/// <see cref="ReplicatedStore"/>, as the host wires it.
/// </summary>
public class MemcachedServerFixture : IAsyncLifetime
{
    private WebApplication? _app;

    public ReplicatedStore Store { get; } = TestData.NewStore();
    public int Port { get; private set; }

    /// <summary>The server object the host would show on its dashboard.</summary>
    public Server.MemcachedServer Server => _app!.Services.GetRequiredService<Server.MemcachedServer>();

    /// <summary>Listening where the options say, as the host does, so the endpoint gets the memcached transport;
    /// a fixture whose options name another port exercises the transport that binds everything else.</summary>
    protected virtual MemcachedOptions Options => new() { Port = Port };

    public async Task InitializeAsync()
    {
        // A port can be taken between probing and binding; try a few.
        for (int attempt = 0; ; attempt++)
        {
            Port = FreeTcpPort.Next();
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.Services.AddSingleton(Store);
            builder.Services.AddPgrelayMemcached(Options);
            // Far beyond any test's bound: a connection that held a stop would show as a hang, not be aborted quietly.
            builder.Services.Configure<Microsoft.Extensions.Hosting.HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromMinutes(5));
            builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, Port, l => l.UseConnectionHandler<MemcachedConnectionHandler>()));
            var app = builder.Build();
            try
            {
                await app.StartAsync();
                _app = app;
                return;
            }
            catch (IOException) when (attempt < 5)
            {
                await app.DisposeAsync();
            }
        }
    }

    public async Task DisposeAsync()
    {
        if (_app is null) return;
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await _app.StopAsync(cts.Token);
        await _app.DisposeAsync();
    }

    public RawClient Connect() => new(Port);

    /// <summary>Stops the server gracefully, as the host does on Ctrl+C.</summary>
    public Task StopAsync(CancellationToken ct = default) => _app!.StopAsync(ct);
}

/// <summary>A server that admits only two connections at once.</summary>
public sealed class SmallServerFixture : MemcachedServerFixture
{
    protected override MemcachedOptions Options => new() { MaxConnections = 2 };
}
