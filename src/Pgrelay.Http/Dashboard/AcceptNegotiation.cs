using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;

namespace Pgrelay.Http.Dashboard;

/// <summary>
/// Decides between the dashboard page and the JSON document at GET /. Only an explicit text/html (or
/// XHTML) counts for the page, so curl's */* and clients that send no Accept keep getting JSON; browsers
/// list text/html first with the highest quality.
/// </summary>
internal static class AcceptNegotiation
{
    public static bool PrefersHtml(HttpRequest request)
    {
        var header = request.Headers.Accept;
        if (header.Count == 0 || !MediaTypeHeaderValue.TryParseList(header, out var types)) return false;
        double html = 0, json = 0;
        int htmlAt = int.MaxValue, jsonAt = int.MaxValue;
        for (int i = 0; i < types.Count; i++)
        {
            var type = types[i];
            double quality = type.Quality ?? 1;
            if (type.MediaType.Equals("text/html", StringComparison.OrdinalIgnoreCase) ||
                type.MediaType.Equals("application/xhtml+xml", StringComparison.OrdinalIgnoreCase))
            {
                if (quality > html) (html, htmlAt) = (quality, i);
            }
            else if (type.MediaType.Equals("application/json", StringComparison.OrdinalIgnoreCase))
            {
                if (quality > json) (json, jsonAt) = (quality, i);
            }
        }
        return html > 0 && (html > json || (html == json && htmlAt < jsonAt));
    }
}
