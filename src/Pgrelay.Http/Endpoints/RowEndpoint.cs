using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;
using Pgrelay.Core.Rendering;

namespace Pgrelay.Http.Endpoints;

/// <summary>
/// GET /{publication}/{table}/{key}: one row as typed JSON. The ETag is the row's commit LSN, which
/// changes whenever the row does, so clients can revalidate with If-None-Match for free.
/// </summary>
internal static class RowEndpoint
{
    public static Task Get(HttpContext context)
    {
        if (!TableResolver.TryResolve(context, out _, out var path, out var table, out var notFound)) return notFound;
        if (!table!.TryGet(path.Key, out var row))
            return JsonResponse.Error(context, StatusCodes.Status404NotFound,
                $"no row with key '{Encoding.UTF8.GetString(path.Key)}' in {path.Publication}.{table.KeyName}");

        string etag = "\"" + row.VersionLsn + "\"";
        var headers = context.Response.Headers;
        headers.ETag = etag;
        if (MatchesIfNoneMatch(context.Request, etag))
        {
            context.Response.StatusCode = StatusCodes.Status304NotModified;
            return Task.CompletedTask;
        }
        JsonResponse.Start(context);
        JsonRowRenderer.Write(row.View, row.Schema, context.Response.BodyWriter);
        return Task.CompletedTask;
    }

    private static bool MatchesIfNoneMatch(HttpRequest request, string etag)
    {
        var header = request.Headers.IfNoneMatch;
        if (header.Count == 0) return false;
        if (!EntityTagHeaderValue.TryParseList(header, out var tags)) return false;
        foreach (var tag in tags)
            if (tag.Equals(EntityTagHeaderValue.Any) || tag.Tag.Equals(etag, StringComparison.Ordinal)) return true;
        return false;
    }
}
