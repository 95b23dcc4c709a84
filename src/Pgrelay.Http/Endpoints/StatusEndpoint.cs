using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Pgrelay.Http.Status;

namespace Pgrelay.Http.Endpoints;

/// <summary>GET /status: the full status document the dashboard polls (one path segment, so it never shadows a table).</summary>
internal static class StatusEndpoint
{
    public static Task Get(HttpContext context)
    {
        var document = context.RequestServices.GetRequiredService<StatusDocument>();
        return JsonResponse.Document(context, StatusCodes.Status200OK, json => document.Write(json, DateTimeOffset.UtcNow));
    }
}
