using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.WebUtilities;

namespace Pgrelay.Http;

/// <summary>
/// The JSON body of an error nobody else wrote one for: a path no endpoint serves (<c>/pub</c>, <c>/pub/</c>), a method
/// an endpoint does not take (<c>POST /status</c>). Runs only when a 4xx/5xx response has no body yet, so endpoints'
/// own errors are left alone.
/// </summary>
internal static class ErrorBodies
{
    public static Task WriteAsync(StatusCodeContext status)
    {
        var context = status.HttpContext;
        var request = context.Request;
        string path = request.Path.HasValue ? request.Path.Value! : "/";
        string message = context.Response.StatusCode switch
        {
            StatusCodes.Status404NotFound =>
                $"nothing at '{path}': rows are at /{{publication}}/{{table}}/{{key}}, pages at /{{publication}}/{{table}}; GET / lists the publications",
            StatusCodes.Status405MethodNotAllowed => $"method {request.Method} is not allowed on '{path}'",
            int code => $"{code} {ReasonPhrases.GetReasonPhrase(code)}",
        };
        return JsonResponse.Error(context, context.Response.StatusCode, message);
    }
}
