using System.Buffers;
using System.Text;
using Microsoft.AspNetCore.Http;
using Pgrelay.Core.Rendering;

namespace Pgrelay.Http.Endpoints;

/// <summary>
/// GET /{publication}/{table}?after=&lt;key&gt;&amp;limit=&lt;n&gt;: rows in key order, read from one pinned
/// snapshot so a page never mixes two moments. "next" is the last key when more rows follow, else null.
/// </summary>
internal static class TablePageEndpoint
{
    public const int DefaultLimit = 100;
    public const int MaxLimit = 10_000;
    private const int FlushEveryRows = 256;

    public static async Task Get(HttpContext context)
    {
        if (!TableResolver.TryResolve(context, out var store, out _, out var table, out var notFound))
        {
            await notFound;
            return;
        }
        var query = context.Request.Query;
        int limit = DefaultLimit;
        if (query.TryGetValue("limit", out var limitText) &&
            (!int.TryParse(limitText.ToString(), out limit) || limit < 1 || limit > MaxLimit))
        {
            await JsonResponse.Error(context, StatusCodes.Status400BadRequest, $"limit must be a whole number from 1 to {MaxLimit}");
            return;
        }
        bool hasAfter = query.TryGetValue("after", out var afterText);
        byte[] after = hasAfter ? Encoding.UTF8.GetBytes(afterText.ToString()) : [];

        using var pin = store.Pin();
        // One extra row says whether another page follows without a second lookup.
        var rows = table!.Page(after, hasAfter, limit + 1, pin);
        bool more = rows.Count > limit;
        int count = Math.Min(rows.Count, limit);

        JsonResponse.Start(context);
        var writer = context.Response.BodyWriter;
        writer.Write("{\"rows\":["u8);
        for (int i = 0; i < count; i++)
        {
            if (i > 0) writer.Write(","u8);
            JsonRowRenderer.Write(rows[i].View, rows[i].Schema, writer);
            if (i % FlushEveryRows == FlushEveryRows - 1) await writer.FlushAsync(context.RequestAborted);
        }
        writer.Write("],\"next\":"u8);
        if (more && count > 0) WriteKey(rows[count - 1], writer);
        else writer.Write("null"u8);
        writer.Write("}"u8);
    }

    private static void WriteKey(Pgrelay.Store.Tables.RowRef row, IBufferWriter<byte> writer)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(row.RowKeyLength);
        try
        {
            int written = row.WriteRowKey(buffer);
            JsonStringWriter.Write(buffer.AsSpan(0, written), writer);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
