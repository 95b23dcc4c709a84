using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Pgrelay.Http.Tests.Browser;

/// <summary>
/// One tab driven over DevTools: navigate, evaluate script, wait for a condition (bounded), screenshot.
/// Uncaught script errors and console errors are collected so a test can assert the page ran cleanly.
/// </summary>
internal sealed class BrowserPage
{
    private static readonly TimeSpan WaitLimit = TimeSpan.FromSeconds(30);
    private readonly CdpConnection _cdp;
    private readonly string _session;
    private readonly ConcurrentQueue<string> _errors = new();

    private BrowserPage(CdpConnection cdp, string session)
    {
        _cdp = cdp;
        _session = session;
        cdp.EventReceived += (method, parameters, session) =>
        {
            if (session != _session) return;
            if (method == "Runtime.exceptionThrown")
                _errors.Enqueue(parameters.GetProperty("exceptionDetails").GetRawText());
            else if (method == "Runtime.consoleAPICalled" && parameters.GetProperty("type").GetString() == "error")
                _errors.Enqueue(parameters.GetProperty("args").GetRawText());
        };
    }

    /// <summary>Script errors and console.error calls seen so far.</summary>
    public IReadOnlyCollection<string> Errors => _errors.ToArray();

    public static async Task<BrowserPage> OpenAsync(CdpConnection cdp, int width, int height)
    {
        var target = await cdp.SendAsync("Target.createTarget", new JsonObject { ["url"] = "about:blank" });
        var attached = await cdp.SendAsync("Target.attachToTarget",
            new JsonObject { ["targetId"] = target.GetProperty("targetId").GetString(), ["flatten"] = true });
        var page = new BrowserPage(cdp, attached.GetProperty("sessionId").GetString()!);
        await page.SendAsync("Page.enable");
        await page.SendAsync("Runtime.enable");
        await page.ResizeAsync(width, height);
        return page;
    }

    public Task ResizeAsync(int width, int height) => SendAsync("Emulation.setDeviceMetricsOverride",
        new JsonObject { ["width"] = width, ["height"] = height, ["deviceScaleFactor"] = 1, ["mobile"] = false });

    public async Task NavigateAsync(Uri url)
    {
        var result = await SendAsync("Page.navigate", new JsonObject { ["url"] = url.ToString() });
        if (result.TryGetProperty("errorText", out var error)) throw new InvalidOperationException($"navigating to {url}: {error}");
        await WaitForAsync("document.readyState === 'complete'", "the page to load");
    }

    /// <summary>Runs <paramref name="expression"/> (awaiting a promise) and returns its value as JSON.</summary>
    public async Task<JsonElement> EvaluateAsync(string expression)
    {
        var result = await SendAsync("Runtime.evaluate",
            new JsonObject { ["expression"] = expression, ["returnByValue"] = true, ["awaitPromise"] = true });
        if (result.TryGetProperty("exceptionDetails", out var exception))
            throw new InvalidOperationException($"script failed: {expression}\n{exception.GetRawText()}");
        var value = result.GetProperty("result");
        return value.TryGetProperty("value", out var v) ? v : default;
    }

    public async Task<string?> TextAsync(string expression) => (await EvaluateAsync(expression)) is { ValueKind: JsonValueKind.String } s ? s.GetString() : null;

    /// <summary>Polls <paramref name="condition"/> until it is true; fails after a bound instead of hanging the test.</summary>
    public async Task WaitForAsync(string condition, string what)
    {
        var deadline = DateTime.UtcNow + WaitLimit;
        while (true)
        {
            if ((await EvaluateAsync("!!(" + condition + ")")).ValueKind == JsonValueKind.True) return;
            if (DateTime.UtcNow > deadline)
            {
                string? body = await TextAsync("document.body ? document.body.innerText : ''");
                throw new TimeoutException($"waited {WaitLimit.TotalSeconds} s for {what} ({condition}); page text:\n{body}\nerrors: {string.Join("\n", Errors)}");
            }
            await Task.Delay(100);
        }
    }

    /// <summary>A PNG of the viewport, or of the whole page when <paramref name="fullPage"/>.</summary>
    public async Task<byte[]> ScreenshotAsync(bool fullPage = false)
    {
        var parameters = new JsonObject { ["format"] = "png" };
        if (fullPage) parameters["captureBeyondViewport"] = true;
        var result = await SendAsync("Page.captureScreenshot", parameters);
        return Convert.FromBase64String(result.GetProperty("data").GetString()!);
    }

    private Task<JsonElement> SendAsync(string method, JsonObject? parameters = null) => _cdp.SendAsync(method, parameters, _session);
}
