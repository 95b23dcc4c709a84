using System.Globalization;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Pgrelay.Http.Status;

namespace Pgrelay.Http.Endpoints;

/// <summary>
/// GET /status[?history_after=unix-ms]: the full status document the dashboard polls (one path segment, so it
/// never shadows a table). With history_after (0 for all of it) it adds the lag samples taken after that
/// moment, so a poller fetches the history once and then only what is new.
/// </summary>
internal static class StatusEndpoint
{
    public static Task Get(HttpContext context)
    {
        DateTimeOffset? historyAfter = null;
        if (context.Request.Query.TryGetValue("history_after", out var value))
        {
            if (!long.TryParse(value.ToString(), NumberStyles.None, CultureInfo.InvariantCulture, out long ms) || ms > MaxUnixMilliseconds)
                return JsonResponse.Error(context, StatusCodes.Status400BadRequest,
                    $"history_after '{value}' is not a time in unix milliseconds (0 for the whole history)");
            historyAfter = DateTimeOffset.FromUnixTimeMilliseconds(ms);
        }
        var document = context.RequestServices.GetRequiredService<StatusDocument>();
        return JsonResponse.Document(context, StatusCodes.Status200OK, json => document.Write(json, DateTimeOffset.UtcNow, historyAfter));
    }

    private static readonly long MaxUnixMilliseconds = DateTimeOffset.MaxValue.ToUnixTimeMilliseconds();
}
