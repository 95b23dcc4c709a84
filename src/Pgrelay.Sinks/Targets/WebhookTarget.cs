using System.Buffers;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using Pgrelay.Sinks.Delivery;
using Pgrelay.Sinks.Events;

namespace Pgrelay.Sinks.Targets;

/// <summary>
/// POSTs each batch as one JSON array of events. Every event carries its idempotency key (<c>"id"</c>: commit LSN and
/// position, the same on every retry and after a restart); the request carries <c>Idempotency-Key</c> (first and last
/// event id) and, with a secret, <c>X-Pgrelay-Signature: sha256=&lt;hex HMAC-SHA256 of the body&gt;</c>.
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
    private readonly ArrayBufferWriter<byte> _body = new(64 * 1024);

    public WebhookTarget(Uri url, string? secret, TimeSpan timeout, int maxAttempts, HttpMessageHandler? handler = null)
    {
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
        if (batch.Events.Count == 0) return;
        var body = Render(batch);
        var signature = _secret is null ? null : "sha256=" + Convert.ToHexStringLower(HMACSHA256.HashData(_secret, body.Span));
        var idempotency = $"{batch.Events[0].Id}..{batch.Events[^1].Id}";
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

    private ReadOnlyMemory<byte> Render(SinkBatch batch)
    {
        _body.ResetWrittenCount();
        Put((byte)'[');
        for (int i = 0; i < batch.Events.Count; i++)
        {
            if (i > 0) Put((byte)',');
            EventJson.Write(batch.Events[i], _body);
        }
        Put((byte)']');
        // A copy: the request may still be read by the handler after a cancelled attempt while the buffer is reused.
        return _body.WrittenMemory.ToArray();
    }

    private void Put(byte b)
    {
        _body.GetSpan(1)[0] = b;
        _body.Advance(1);
    }

    public ValueTask DisposeAsync()
    {
        _http.Dispose();
        return ValueTask.CompletedTask;
    }
}
