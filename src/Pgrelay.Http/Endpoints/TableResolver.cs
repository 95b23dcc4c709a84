using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Pgrelay.Store;
using Pgrelay.Store.Tables;

namespace Pgrelay.Http.Endpoints;

/// <summary>Finds the table a /{publication}/{table} request names, or answers 404 saying which part is unknown.</summary>
internal static class TableResolver
{
    public static bool TryResolve(HttpContext context, out ReplicatedStore store, out RelayPath path, out StoredTable? table, out Task notFound)
    {
        store = context.RequestServices.GetRequiredService<ReplicatedStore>();
        table = null;
        notFound = Task.CompletedTask;
        if (!RelayPath.TryParse(context, out path))
        {
            notFound = JsonResponse.Error(context, StatusCodes.Status404NotFound, "expected /{publication}/{table}[/{key}]");
            return false;
        }
        var publication = store.FindPublication(path.Publication);
        if (publication is null)
        {
            notFound = JsonResponse.Error(context, StatusCodes.Status404NotFound, $"unknown publication '{path.Publication}'");
            return false;
        }
        table = publication.FindTable(path.Table);
        if (table is null)
        {
            notFound = JsonResponse.Error(context, StatusCodes.Status404NotFound,
                $"publication '{path.Publication}' has no table '{path.Table}' (tables outside schema public are named schema.table)");
            return false;
        }
        return true;
    }
}
