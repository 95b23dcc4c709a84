using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Pgrelay.Http.Endpoints;
using Pgrelay.Http.Metrics;

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
        return services;
    }

    public static IEndpointRouteBuilder MapPgrelayHttp(this IEndpointRouteBuilder endpoints)
    {
        // Resolve once now so a missing registration fails at start-up, not on the first scrape.
        _ = endpoints.ServiceProvider.GetService<PrometheusExporter>() ??
            throw new InvalidOperationException("call services.AddPgrelayHttp() before MapPgrelayHttp()");

        endpoints.MapGet("/", OverviewEndpoint.Get);
        endpoints.MapGet("/healthz", HealthEndpoints.Live);
        endpoints.MapGet("/readyz", HealthEndpoints.Ready);
        endpoints.MapGet("/metrics", MetricsEndpoint.Scrape);
        endpoints.MapGet("/{publication}/{table}", TablePageEndpoint.Get);
        endpoints.MapGet("/{publication}/{table}/{**key}", RowEndpoint.Get);
        return endpoints;
    }
}
