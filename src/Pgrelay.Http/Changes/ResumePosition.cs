using Microsoft.AspNetCore.Http;
using Pgrelay.Core.Model;

namespace Pgrelay.Http.Changes;

/// <summary>
/// Where a stream starts. The Last-Event-ID header wins (an EventSource sends it when it reconnects, while
/// its URL still carries the original ?after=), then ?after=X/Y, else the newest commit: a new client wants
/// what happens from now on, having read current state itself.
/// </summary>
internal static class ResumePosition
{
    public const string LastEventIdHeader = "Last-Event-ID";

    /// <returns>False with a message for the client when a position is given but is not an LSN.</returns>
    public static bool TryGet(HttpRequest request, Lsn newest, out Lsn position, out string? error)
    {
        error = null;
        position = newest;
        string? lastEventId = request.Headers[LastEventIdHeader];
        if (!string.IsNullOrWhiteSpace(lastEventId))
        {
            if (Lsn.TryParse(lastEventId.Trim(), out position)) return true;
            error = $"{LastEventIdHeader} '{lastEventId}' is not an LSN (X/Y in hex, as sent in event ids)";
            return false;
        }
        if (request.Query.TryGetValue("after", out var after))
        {
            if (Lsn.TryParse(after.ToString().Trim(), out position)) return true;
            error = $"after '{after}' is not an LSN (X/Y in hex, as in event ids and feed.oldest_resumable_lsn of /status)";
            return false;
        }
        return true;
    }
}
