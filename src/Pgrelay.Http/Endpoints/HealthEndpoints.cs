using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Pgrelay.Core.Status;
using Pgrelay.Store;

namespace Pgrelay.Http.Endpoints;

/// <summary>
/// Liveness (the process answers) and readiness (the initial snapshot is loaded, so every read is
/// complete). A load balancer should route reads only to ready instances.
/// </summary>
internal static class HealthEndpoints
{
    public static Task Live(HttpContext context) =>
        JsonResponse.Document(context, StatusCodes.Status200OK, json =>
        {
            json.WriteStartObject();
            json.WriteString("status", "ok");
            json.WriteEndObject();
        });

    public static Task Ready(HttpContext context)
    {
        var store = context.RequestServices.GetRequiredService<ReplicatedStore>();
        var status = context.RequestServices.GetRequiredService<ReplicationStatus>();
        bool ready = store.IsReady;
        return JsonResponse.Document(context, ready ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable, json =>
        {
            json.WriteStartObject();
            json.WriteString("status", ready ? "ready" : "not ready");
            if (!ready) json.WriteString("reason", NotReadyReason(status));
            // Still ready: every read is complete and consistent, only older than the source until the new snapshot lands.
            else if (store.IsResnapshotting)
                json.WriteString("note", "a fresh snapshot is loading; serving the previous consistent data until it replaces it");
            // Still ready: the data served is exact. But the server is filling its disk with WAL for this slot.
            if (status.RetentionWarning)
                json.WriteString("warning", $"slot {status.SlotName} holds {status.Retention?.RetainedBytes} bytes of WAL on the server, " +
                                            $"above slot-retention-warning ({status.RetentionWarningBytes} bytes)");
            json.WriteBoolean("slot_retention_warning", status.RetentionWarning);
            if (status.Checkpoints.LastUselessReason is { } useless) json.WriteString("checkpoint_unusable", useless);
            json.WriteEndObject();
        });
    }

    private static string NotReadyReason(ReplicationStatus status) => status.Phase switch
    {
        ReplicationPhase.Snapshotting =>
            $"initial snapshot in progress: {status.SnapshotTablesDone} of {status.SnapshotTablesTotal} tables, " +
            $"{status.SnapshotRowsCopied} of about {status.SnapshotRowsEstimated} rows copied",
        ReplicationPhase.Failed => "replication failed before the initial snapshot completed: " + (status.LastError ?? "unknown error"),
        ReplicationPhase.Reconnecting when status.LastError is { } error =>
            $"initial snapshot not loaded yet: waiting for the source ({error})",
        var phase => $"initial snapshot not loaded yet (replication is {phase.ToString().ToLowerInvariant()})",
    };
}
