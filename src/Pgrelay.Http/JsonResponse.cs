using System.Buffers;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Pgrelay.Core.Rendering;

namespace Pgrelay.Http;

/// <summary>Starting JSON responses and the {"error": "..."} body every failure uses.</summary>
internal static class JsonResponse
{
    public const string ContentType = "application/json; charset=utf-8";

    public static void Start(HttpContext context, int status = StatusCodes.Status200OK)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = ContentType;
        context.Response.Headers.CacheControl = "no-cache";   // rows change under replication: always revalidate (ETag)
    }

    public static Task Error(HttpContext context, int status, string message)
    {
        Start(context, status);
        var writer = context.Response.BodyWriter;
        writer.Write("{\"error\":"u8);
        JsonStringWriter.Write(Encoding.UTF8.GetBytes(message), writer);
        writer.Write("}"u8);
        return Task.CompletedTask;
    }

    /// <summary>For the small cold documents (status, health): a Utf8JsonWriter over the response body.</summary>
    public static async Task Document(HttpContext context, int status, Action<Utf8JsonWriter> write)
    {
        Start(context, status);
        await using (var json = new Utf8JsonWriter(context.Response.BodyWriter))
            write(json);
    }
}
