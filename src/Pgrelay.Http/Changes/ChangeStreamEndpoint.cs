using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Pgrelay.Http.Endpoints;
using Pgrelay.Http.Status;
using Pgrelay.Store;

namespace Pgrelay.Http.Changes;

/// <summary>
/// GET /changes[?publication=p] and GET /{publication}/{table}/changes (both with ?after= and ?format=rows|summary):
/// committed transactions as
/// server-sent events, one "transaction" event per commit with its LSN as the event id, so an EventSource
/// resumes without loss after a reconnect. A position the feed no longer retains gets a "reset" event.
/// <para>
/// Route rule: the literal last segment <c>changes</c> is the stream. A row whose key is the text "changes"
/// is still reachable as <c>/{publication}/{table}/%63hanges</c> (any percent-encoding of the segment):
/// the decision is made on the raw request target, before decoding.
/// </para>
/// </summary>
internal static class ChangeStreamEndpoint
{
    private static readonly string ResetData =
        "{\"reason\":\"the requested position is no longer retained (or the store was re-snapshotted); " +
        "re-read current state, then apply events after this one\"}";

    public static Task All(HttpContext context)
    {
        var store = context.RequestServices.GetRequiredService<ReplicatedStore>();
        if (!context.Request.Query.TryGetValue("publication", out var name)) return StreamAsync(context, store, ChangeFilter.All(store));
        if (store.FindPublication(name.ToString()) is null)
            return JsonResponse.Error(context, StatusCodes.Status404NotFound, $"unknown publication '{name}'");
        return StreamAsync(context, store, ChangeFilter.Publication(store, name.ToString()));
    }

    public static Task Table(HttpContext context)
    {
        if (!IsLiteralChangesSegment(context)) return RowEndpoint.Get(context);
        if (!TableResolver.TryResolve(context, out var store, out var path, out var table, out var notFound)) return notFound;
        return StreamAsync(context, store, ChangeFilter.Table(store, path.Publication, table!));
    }

    private static bool IsLiteralChangesSegment(HttpContext context)
    {
        string raw = context.Features.Get<IHttpRequestFeature>()?.RawTarget ?? "";
        int query = raw.IndexOf('?');
        if (query >= 0) raw = raw[..query];
        // Absolute-form targets and mounted apps fall back to routing's decoded view, like RelayPath.
        return !raw.StartsWith('/') || context.Request.PathBase.HasValue || raw.EndsWith("/changes", StringComparison.Ordinal);
    }

    /// <summary>?format=rows (the default: every change with its rows) or ?format=summary (counts per table).</summary>
    private static bool TryChooseFormat(HttpRequest request, out ITransactionEventWriter events, out string? error)
    {
        error = null;
        string format = request.Query.TryGetValue("format", out var value) ? value.ToString() : "rows";
        events = format switch
        {
            "rows" => new ChangeEventWriter(),
            "summary" => new ChangeSummaryWriter(),
            _ => null!,
        };
        if (events is null) error = $"format '{format}' is not known: use rows (the default) or summary";
        return events is not null;
    }

    private static async Task StreamAsync(HttpContext context, ReplicatedStore store, ChangeFilter filter)
    {
        var services = context.RequestServices;
        var options = services.GetService<ChangeStreamOptions>() ?? new ChangeStreamOptions();
        if (!ResumePosition.TryGet(context.Request, store.Feed.NewestLsn, out var position, out var error) ||
            !TryChooseFormat(context.Request, out var events, out error))
        {
            await JsonResponse.Error(context, StatusCodes.Status400BadRequest, error!);
            return;
        }

        var response = context.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = ServerSentEvents.ContentType;
        response.Headers.CacheControl = "no-cache";
        response.Headers["X-Accel-Buffering"] = "no";   // nginx would otherwise hold events back
        context.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();

        var stopping = services.GetService<IHostApplicationLifetime>()?.ApplicationStopping ?? CancellationToken.None;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, stopping);
        using var counted = services.GetService<SseConnectionCounter>()?.Open();
        using var cursor = new ChangeCursor(store.Feed, position, options.LiveQueueCapacity);
        var stream = new ChangeStreamWriter(context, options, stop.Token);
        try
        {
            // Headers and a first line now: the client knows the stream is live and where it starts.
            ServerSentEvents.WriteRetry((int)options.ClientRetry.TotalMilliseconds, response.BodyWriter);
            ServerSentEvents.WriteComment($"streaming changes after {position}", response.BodyWriter);
            if (!await stream.FlushAsync()) return;

            while (true)
            {
                var step = await cursor.NextAsync(options.HeartbeatInterval, stop.Token);
                switch (step.Kind)
                {
                    case CursorStepKind.Transaction:
                        if (events.Write(step.Transaction!, filter, response.BodyWriter) == 0) continue;   // nothing for this stream
                        break;
                    case CursorStepKind.Reset:
                        ServerSentEvents.WriteId(step.Position, response.BodyWriter);
                        ServerSentEvents.WriteEventName("reset"u8, response.BodyWriter);
                        ServerSentEvents.WriteData(System.Text.Encoding.UTF8.GetBytes(ResetData), response.BodyWriter);
                        ServerSentEvents.EndEvent(response.BodyWriter);
                        break;
                    case CursorStepKind.Idle:
                        ServerSentEvents.WriteComment("keepalive", response.BodyWriter);
                        break;
                    case CursorStepKind.Overflowed:
                        // It resumes from its last event id after reconnecting, reading the feed at its own pace.
                        context.Abort();
                        return;
                }
                if (!await stream.FlushAsync()) return;
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            // Client gone or host stopping: end the response; a live client reconnects elsewhere with its last id.
        }
    }
}
