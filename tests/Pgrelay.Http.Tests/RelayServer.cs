using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Pgrelay.Core.Status;
using Pgrelay.Http;
using Pgrelay.Store;

namespace Pgrelay.Http.Tests;

/// <summary>The HTTP endpoints on a real Kestrel listener at 127.0.0.1 on a free port, over a store the test fills.</summary>
internal sealed class RelayServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private RelayServer(WebApplication app, HttpClient client)
    {
        _app = app;
        Client = client;
    }

    public HttpClient Client { get; }

    public Uri BaseAddress => Client.BaseAddress!;

    public IServiceProvider Services => _app.Services;

    public static async Task<RelayServer> StartAsync(ReplicatedStore store, ReplicationStatus? status = null,
        Action<IServiceCollection>? configure = null, Action<WebApplication>? configureApp = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel().UseUrls("http://127.0.0.1:0");
        builder.Services.AddSingleton(store);
        builder.Services.AddSingleton(status ?? new ReplicationStatus());
        configure?.Invoke(builder.Services);
        builder.Services.AddPgrelayHttp();
        var app = builder.Build();
        configureApp?.Invoke(app);
        app.MapPgrelayHttp();
        await app.StartAsync();
        string address = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First();
        return new RelayServer(app, new HttpClient { BaseAddress = new Uri(address) });
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
