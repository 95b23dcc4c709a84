using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using Pgrelay.Sinks.Configuration;
using Pgrelay.Sinks.Delivery;
using Pgrelay.Sinks.Events;

namespace Pgrelay.Sinks.Targets;

/// <summary>
/// POSTs each batch as JSON arrays of events, one request per piece of at most <c>batch-bytes</c> (an event larger than
/// that is a request of its own; see <see cref="JsonDocuments"/>), in order, each accepted before the next is sent.
/// Every event carries its idempotency key (<c>"id"</c>: commit LSN and position, the same on every retry and after a
/// restart); the request carries <c>Idempotency-Key</c> (its first and last event id) and, with a secret,
/// <c>X-Pgrelay-Signature: sha256=&lt;hex HMAC-SHA256 of the body&gt;</c>.
/// Network errors, timeouts, 408, 429 and 5xx are retried here with back-off up to <c>max-attempts</c>; then (or on any
/// other status) the delivery fails and the sink runner retries the batch later, so nothing is skipped.
/// </summary>
public sealed class WebhookTarget : ISinkTarget
{
    public const string SignatureHeader = "X-Pgrelay-Signature";
    public const string IdempotencyHeader = "Idempotency-Key";

    private readonly Uri _url;
    private readonly byte[]? _secret;
    private readonly int _maxAttempts;
    private readonly HttpClient _http;
    private readonly JsonDocuments _documents;

    public WebhookTarget(Uri url, string? secret, TimeSpan timeout, int maxAttempts, HttpMessageHandler? handler = null,
        long batchBytes = SinkDefinition.DefaultBatchBytes)
    {
        _documents = new JsonDocuments(batchBytes, asArray: true);
        _url = url;
        _secret = string.IsNullOrEmpty(secret) ? null : System.Text.Encoding.UTF8.GetBytes(secret);
        _maxAttempts = Math.Max(1, maxAttempts);
        _http = new HttpClient(handler ?? new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5) }) { Timeout = timeout };
    }

    /// <summary>Delay before the first in-delivery retry; doubles up to 5 s. Tests shorten it.</summary>
    public TimeSpan RetryDelay { get; init; } = TimeSpan.FromMilliseconds(200);

    public Task OpenAsync(CancellationToken ct) => Task.CompletedTask;

    public async Task DeliverAsync(SinkBatch batch, CancellationToken ct)
    {
        foreach (var piece in _documents.Render(batch.Events))
        {
            // A copy: the request may still be read by the handler after a cancelled attempt while the buffer is reused.
            var body = piece.Bytes.ToArray();
            await PostAsync(body, $"{batch.Events[piece.First].Id}..{batch.Events[piece.First + piece.Count - 1].Id}", ct).ConfigureAwait(false);
        }
    }

    private async Task PostAsync(ReadOnlyMemory<byte> body, string idempotency, CancellationToken ct)
    {
        var signature = _secret is null ? null : "sha256=" + Convert.ToHexStringLower(HMACSHA256.HashData(_secret, body.Span));
        var backoff = new Backoff(RetryDelay, TimeSpan.FromSeconds(5));
        for (int attempt = 1; ; attempt++)
        {
            string problem;
            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Post, _url) { Content = new ReadOnlyMemoryContent(body) };
                request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
                request.Headers.TryAddWithoutValidation(IdempotencyHeader, idempotency);
                if (signature is not null) request.Headers.TryAddWithoutValidation(SignatureHeader, signature);
                using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
                if (response.IsSuccessStatusCode) return;
                problem = $"{_url} answered {(int)response.StatusCode} {response.ReasonPhrase}";
                if (!Retryable(response.StatusCode)) throw new HttpRequestException(problem, null, response.StatusCode);
            }
            catch (HttpRequestException e) when (e.StatusCode is null && attempt < _maxAttempts) { problem = e.Message; }
            catch (TaskCanceledException) when (!ct.IsCancellationRequested)
            {
                problem = $"{_url} did not answer within {_http.Timeout.TotalSeconds:0.#}s";
                if (attempt >= _maxAttempts) throw new HttpRequestException(problem);
            }
            if (attempt >= _maxAttempts) throw new HttpRequestException($"{problem} (after {attempt} attempts)");
            await Task.Delay(backoff.Next(), ct).ConfigureAwait(false);
        }
    }

    private static bool Retryable(HttpStatusCode status) =>
        status is HttpStatusCode.RequestTimeout or HttpStatusCode.TooManyRequests || (int)status >= 500;

    public ValueTask DisposeAsync()
    {
        _http.Dispose();
        return ValueTask.CompletedTask;
    }
}
