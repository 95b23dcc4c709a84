namespace Pgrelay.Http.Tests.Browser;

/// <summary>A private headless Chromium and the DevTools connection driving it, for one test.</summary>
internal sealed class BrowserSession : IAsyncDisposable
{
    private readonly HeadlessChromium _chromium;
    private readonly CdpConnection _cdp;

    private BrowserSession(HeadlessChromium chromium, CdpConnection cdp) => (_chromium, _cdp) = (chromium, cdp);

    public static async Task<BrowserSession> StartAsync()
    {
        var chromium = await HeadlessChromium.StartAsync();
        try
        {
            return new BrowserSession(chromium, await CdpConnection.ConnectAsync(chromium.DevToolsUrl));
        }
        catch
        {
            await chromium.DisposeAsync();
            throw;
        }
    }

    public Task<BrowserPage> OpenPageAsync(int width = 1280, int height = 900) => BrowserPage.OpenAsync(_cdp, width, height);

    public async ValueTask DisposeAsync()
    {
        await _cdp.DisposeAsync();
        await _chromium.DisposeAsync();
    }
}
