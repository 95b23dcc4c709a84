using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Pgrelay.Core.Status;
using Pgrelay.Store;

namespace Pgrelay.Http.Endpoints;

/// <summary>GET /: what is replicated and how far along, as JSON (the browser dashboard comes later).</summary>
internal static class OverviewEndpoint
{
    public static Task Get(HttpContext context)
    {
        var store = context.RequestServices.GetRequiredService<ReplicatedStore>();
        var status = context.RequestServices.GetRequiredService<ReplicationStatus>();
        return JsonResponse.Document(context, StatusCodes.Status200OK, json =>
        {
            json.WriteStartObject();
            json.WriteString("phase", status.Phase.ToString().ToLowerInvariant());
            json.WriteBoolean("ready", store.IsReady);
            json.WriteString("visible_lsn", store.VisibleLsn.ToString());
            json.WriteNumber("lag_bytes", status.LagBytes);
            json.WriteNumber("lag_seconds", status.LagSeconds(DateTimeOffset.UtcNow));
            if (status.LastError is { } error) json.WriteString("last_error", error);

            json.WriteStartObject("snapshot");
            json.WriteNumber("tables_done", status.SnapshotTablesDone);
            json.WriteNumber("tables_total", status.SnapshotTablesTotal);
            json.WriteNumber("rows_copied", status.SnapshotRowsCopied);
            json.WriteNumber("rows_estimated", status.SnapshotRowsEstimated);
            json.WriteEndObject();

            json.WriteStartArray("publications");
            foreach (var publication in store.Publications)
            {
                json.WriteStartObject();
                json.WriteString("name", publication.Name);
                json.WriteStartArray("tables");
                foreach (var table in publication.Tables)
                {
                    json.WriteStartObject();
                    json.WriteString("name", table.KeyName);
                    json.WriteNumber("rows", table.RowCount);
                    json.WriteNumber("bytes", table.MemoryBytes);
                    json.WriteNumber("bytes_per_row", Math.Round(table.BytesPerRow, 1));
                    json.WriteEndObject();
                }
                json.WriteEndArray();
                json.WriteEndObject();
            }
            json.WriteEndArray();
            json.WriteEndObject();
        });
    }
}
