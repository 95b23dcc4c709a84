using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Pgrelay.Http.Changes;
using Pgrelay.Http.Endpoints;
using Pgrelay.Http.Metrics;
using Pgrelay.Http.Status;

namespace Pgrelay.Http;

/// <summary>
/// Wiring for the host: <c>services.AddPgrelayHttp()</c> then <c>app.MapPgrelayHttp()</c>. The host
/// registers <see cref="Pgrelay.Store.ReplicatedStore"/> and <see cref="Pgrelay.Core.Status.ReplicationStatus"/>
/// as singletons; everything here resolves them from DI.
/// </summary>
public static class PgrelayHttpExtensions
{
    public static IServiceCollection AddPgrelayHttp(this IServiceCollection services)
    {
        services.AddMetrics();
        services.TryAddSingleton<PgrelayMeter>();
        services.TryAddSingleton<PrometheusExporter>();
        services.TryAddSingleton<ChangeStreamOptions>();
        services.TryAddSingleton<StatusDocument>();
        services.TryAddSingleton<SseConnectionCounter>();
        services.TryAddSingleton<LagHistory>(_ => new LagHistory());
        services.AddHostedService<LagSampler>();
        // Redis and memcached counters are registered by the host the same way (AddSingleton<IProtocolConnectionCounter>).
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IProtocolConnectionCounter, SseConnectionCounter>(
            provider => provider.GetRequiredService<SseConnectionCounter>()));
        return services;
    }

    public static IEndpointRouteBuilder MapPgrelayHttp(this IEndpointRouteBuilder endpoints)
    {
        // Resolve once now so a missing registration fails at start-up, not on the first scrape.
        _ = endpoints.ServiceProvider.GetService<PrometheusExporter>() ??
            throw new InvalidOperationException("call services.AddPgrelayHttp() before MapPgrelayHttp()");
        // Routing answers paths and methods no endpoint takes with an empty 404/405; every error here has a JSON body.
        if (endpoints is IApplicationBuilder app) app.UseStatusCodePages(ErrorBodies.WriteAsync);

        endpoints.MapGet("/", OverviewEndpoint.Get);
        endpoints.MapGet("/status", StatusEndpoint.Get);
        endpoints.MapGet("/changes", ChangeStreamEndpoint.All);
        endpoints.MapGet("/healthz", HealthEndpoints.Live);
        endpoints.MapGet("/readyz", HealthEndpoints.Ready);
        endpoints.MapGet("/metrics", MetricsEndpoint.Scrape);
        endpoints.MapGet("/{publication}/{table}", TablePageEndpoint.Get);
        // A literal segment outranks the catch-all, so .../changes is the stream; see ChangeStreamEndpoint for the row named "changes".
        endpoints.MapGet("/{publication}/{table}/changes", ChangeStreamEndpoint.Table);
        endpoints.MapGet("/{publication}/{table}/{**key}", RowEndpoint.Get);
        return endpoints;
    }
}
