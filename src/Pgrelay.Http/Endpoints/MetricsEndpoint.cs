using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Pgrelay.Http.Metrics;

namespace Pgrelay.Http.Endpoints;

/// <summary>GET /metrics: the Prometheus scrape target.</summary>
internal static class MetricsEndpoint
{
    public static Task Scrape(HttpContext context)
    {
        var exporter = context.RequestServices.GetRequiredService<PrometheusExporter>();
        context.Response.ContentType = PrometheusTextWriter.ContentType;
        return context.Response.WriteAsync(exporter.Scrape());
    }
}
