using System.Net.Http.Headers;
using System.Text;

namespace Pgrelay.Http.Tests;

/// <summary>One server-sent event as a client sees it.</summary>
internal sealed record SseEvent(string? Id, string Event, string Data);

/// <summary>
/// A minimal text/event-stream client over a real HTTP response: reads events and (optionally) comments.
/// Every read is bounded so a broken server fails the test instead of hanging it.
/// </summary>
internal sealed class SseReader : IAsyncDisposable
{
    private static readonly TimeSpan ReadLimit = TimeSpan.FromSeconds(20);
    private readonly HttpResponseMessage _response;
    private readonly StreamReader _reader;

    private SseReader(HttpResponseMessage response, Stream body)
    {
        _response = response;
        _reader = new StreamReader(body, Encoding.UTF8);
    }

    public HttpResponseMessage Response => _response;

    /// <summary>Opens the stream; returns once the server sent its headers and first line, so its position is fixed.</summary>
    public static async Task<SseReader> OpenAsync(HttpClient client, string path, string? lastEventId = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
        if (lastEventId is not null) request.Headers.Add("Last-Event-ID", lastEventId);
        var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        var body = await response.Content.ReadAsStreamAsync();
        var reader = new SseReader(response, body);
        if (response.IsSuccessStatusCode)
        {
            // "retry: ..." then ": streaming changes after X/Y": proof the server chose its position.
            var comment = await reader.ReadCommentAsync();
            Assert.StartsWith("streaming changes after ", comment);
        }
        return reader;
    }

    /// <summary>The next event, skipping comments; null at the end of the stream.</summary>
    public async Task<SseEvent?> ReadEventAsync()
    {
        using var limit = new CancellationTokenSource(ReadLimit);
        string? id = null, name = null;
        var data = new StringBuilder();
        bool any = false;
        while (true)
        {
            var line = await _reader.ReadLineAsync(limit.Token);
            if (line is null) return null;
            if (line.Length == 0)
            {
                if (any) return new SseEvent(id, name ?? "message", data.ToString());
                continue;
            }
            if (line[0] == ':') continue;
            any = true;
            int colon = line.IndexOf(':');
            string field = colon < 0 ? line : line[..colon];
            string value = colon < 0 ? "" : line[(colon + 1)..].TrimStart(' ');
            switch (field)
            {
                case "id": id = value; break;
                case "event": name = value; break;
                case "data": data.Append(data.Length > 0 ? "\n" : "").Append(value); break;
                case "retry": any = false; break;   // a retry-only block is not an event
            }
        }
    }

    /// <summary>The next comment line's text (without ": "), skipping other lines.</summary>
    public async Task<string> ReadCommentAsync()
    {
        using var limit = new CancellationTokenSource(ReadLimit);
        while (true)
        {
            var line = await _reader.ReadLineAsync(limit.Token) ?? throw new EndOfStreamException("stream ended before a comment");
            if (line.StartsWith(':')) return line[1..].TrimStart(' ');
        }
    }

    /// <summary>Reads to the end of the stream; true when the server ended it cleanly.</summary>
    public async Task<bool> EndsCleanlyAsync()
    {
        using var limit = new CancellationTokenSource(ReadLimit);
        try
        {
            while (await _reader.ReadLineAsync(limit.Token) is not null) { }
            return true;
        }
        catch (HttpIOException)
        {
            return false;
        }
        catch (IOException)
        {
            return false;
        }
    }

    public ValueTask DisposeAsync()
    {
        _reader.Dispose();
        _response.Dispose();
        return ValueTask.CompletedTask;
    }
}
