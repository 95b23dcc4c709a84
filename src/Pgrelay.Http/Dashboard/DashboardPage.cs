using Microsoft.AspNetCore.Http;

namespace Pgrelay.Http.Dashboard;

/// <summary>
/// The browser dashboard at GET /: one self-contained page (dashboard.html, embedded in this assembly:
/// inline CSS and script, no CDN, no build step). It polls GET /status once a second (and right after each
/// change), draws the server's lag history as an inline SVG chart, and lists transactions from GET /changes.
/// </summary>
internal static class DashboardPage
{
    private const string ResourceName = "Pgrelay.Http.Dashboard.dashboard.html";
    private static readonly byte[] Utf8 = Load();

    public static Task Serve(HttpContext context)
    {
        var response = context.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "text/html; charset=utf-8";
        response.Headers.CacheControl = "no-cache";
        response.Headers.XContentTypeOptions = "nosniff";
        // Everything the page needs comes from pgrelay itself; nothing else may load or run.
        response.Headers.ContentSecurityPolicy =
            "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'";
        response.ContentLength = Utf8.Length;
        return response.Body.WriteAsync(Utf8, context.RequestAborted).AsTask();
    }

    private static byte[] Load()
    {
        using var stream = typeof(DashboardPage).Assembly.GetManifestResourceStream(ResourceName)
            ?? throw new InvalidOperationException($"embedded resource {ResourceName} is missing from the build");
        var bytes = new byte[stream.Length];
        stream.ReadExactly(bytes);
        return bytes;
    }
}
