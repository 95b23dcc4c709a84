using Microsoft.AspNetCore.Http;

namespace Pgrelay.Http.Changes;

/// <summary>
/// Flushes one stream's events with a deadline. A client that stops reading fills the socket and then
/// Kestrel's response buffer; instead of waiting forever, the connection is aborted after
/// <see cref="ChangeStreamOptions.SlowClientTimeout"/>.
/// </summary>
internal sealed class ChangeStreamWriter(HttpContext context, ChangeStreamOptions options, CancellationToken stop)
{
    /// <returns>False when the stream is over (client gone, too slow, or the host stopping).</returns>
    public async ValueTask<bool> FlushAsync()
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(stop);
        deadline.CancelAfter(options.SlowClientTimeout);
        try
        {
            var result = await context.Response.BodyWriter.FlushAsync(deadline.Token);
            if (result.IsCanceled && !stop.IsCancellationRequested) context.Abort();
            return !result.IsCompleted && !result.IsCanceled;
        }
        catch (OperationCanceledException) when (!stop.IsCancellationRequested)
        {
            context.Abort();
            return false;
        }
    }
}
