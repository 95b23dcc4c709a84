using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Pgrelay.Http.Dashboard;
using Pgrelay.Http.Status;

namespace Pgrelay.Http.Endpoints;

/// <summary>
/// GET /: the dashboard page for browsers (Accept prefers text/html), otherwise the status document as
/// JSON, which is what curl (*/*), scripts and monitoring get.
/// </summary>
internal static class OverviewEndpoint
{
    public static Task Get(HttpContext context)
    {
        context.Response.Headers.Vary = "Accept";
        if (AcceptNegotiation.PrefersHtml(context.Request)) return DashboardPage.Serve(context);
        var document = context.RequestServices.GetRequiredService<StatusDocument>();
        return JsonResponse.Document(context, StatusCodes.Status200OK, json => document.Write(json, DateTimeOffset.UtcNow));
    }
}
