using System.Collections.Concurrent;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Pgrelay.Core.Changes;
using Pgrelay.Core.Model;
using Pgrelay.Core.Status;
using Pgrelay.Http.Status;
using Pgrelay.Http.Tests.Browser;
using static Pgrelay.Http.Tests.DashboardNegotiationTests;
using static Pgrelay.Http.Tests.TestData;

namespace Pgrelay.Http.Tests;

/// <summary>
/// The dashboard and the change stream in a real browser: Debian's headless Chromium driven over the
/// DevTools protocol, against the endpoints on real Kestrel over a store the test fills and changes.
/// </summary>
[Collection(nameof(BrowserCollection))]
public class DashboardBrowserTests
{
    private const string HeaderColour = "#17212e", AccentColour = "#2f6fde";

    /// <summary>Text of one cell of the tables list (rows, bytes, ...).</summary>
    private static string TableCell(string publication, string table, string column) =>
        $"document.querySelector('#tables tr[data-publication=\"{publication}\"][data-table=\"{table}\"] td.{column}')?.textContent";

    private static string Connections(string protocol) =>
        $"document.querySelector('#clients tr[data-protocol=\"{protocol}\"] td.connections')?.textContent";

    private static string Text(string id) => $"document.getElementById('{id}').textContent";

    [ChromiumFact]
    public async Task Dashboard_shows_the_WAL_the_slot_holds_and_warns_above_the_threshold()
    {
        var status = new ReplicationStatus { Phase = ReplicationPhase.Streaming, SlotName = "pgrelay_test", RetentionWarningBytes = 1L << 30 };
        status.Retention = new SlotRetention(true, 5L << 20, "reserved", null, DateTimeOffset.UtcNow);
        await using var server = await RelayServer.StartAsync(ReadyStore(Row("Tulsa", "OK", "1")), status);
        await using var browser = await BrowserSession.StartAsync();
        var page = await browser.OpenPageAsync(1280, 900);
        await page.NavigateAsync(server.BaseAddress);
        await page.WaitForAsync("document.body.dataset.loaded === 'true'", "the first status to render");
        Assert.Equal("5.0 MiB", await page.TextAsync(Text("slot-retained")));
        Assert.Equal("", await page.TextAsync(Text("slot-warning")));
        Assert.False((await page.EvaluateAsync("document.getElementById('slot-retention').classList.contains('warn')")).GetBoolean());

        // pgrelay fell behind (or was down): the slot holds more than the threshold, and the server is past max_wal_size.
        status.Retention = new SlotRetention(true, 3L << 30, "unreserved", 1L << 20, DateTimeOffset.UtcNow);
        status.RetentionWarning = true;
        await page.WaitForAsync(Text("slot-retained") + " === '3.0 GiB'", "the new reading");
        var warning = await page.TextAsync(Text("slot-warning"));
        Assert.Contains("above the warning threshold of 1.0 GiB", warning);
        Assert.Contains("wal_status is unreserved", warning);
        Assert.True((await page.EvaluateAsync("document.getElementById('slot-retention').classList.contains('warn')")).GetBoolean());
        Assert.Empty(page.Errors);
    }

    [ChromiumFact]
    public async Task Dashboard_lists_tables_loading_beside_the_stream_until_they_swap_in()
    {
        var status = new ReplicationStatus { Phase = ReplicationPhase.Streaming, SlotName = "pgrelay_test" };
        await using var server = await RelayServer.StartAsync(ReadyStore(Row("Tulsa", "OK", "1")), status);
        await using var browser = await BrowserSession.StartAsync();
        var page = await browser.OpenPageAsync(1280, 900);
        await page.NavigateAsync(server.BaseAddress);
        await page.WaitForAsync("document.body.dataset.loaded === 'true'", "the first status to render");
        Assert.Equal("none", await page.TextAsync(Text("reloads")));

        var reload = new TableReloadStatus("public.orders", "added to the publication", new Lsn(0x100)) { Phase = "copying" };
        reload.CountRows(12000);
        status.AddReload(reload);
        await page.WaitForAsync(Text("reloads") + ".includes('public.orders')", "the load to show");
        Assert.Equal("public.orders: copying, 12,000 rows copied (added to the publication)", await page.TextAsync(Text("reloads")));

        status.RemoveReload(reload);
        await page.WaitForAsync(Text("reloads") + " === 'none'", "the load to go once swapped in");
        Assert.Empty(page.Errors);
    }

    [ChromiumFact]
    public async Task Dashboard_shows_the_store_checkpoint_a_restart_resumes_from_and_useless_ones()
    {
        var status = new ReplicationStatus { Phase = ReplicationPhase.Streaming, SlotName = "pgrelay_test" };
        status.Checkpoints.Enabled = true;
        status.Checkpoints.Loaded(new Lsn(0x1000), 3, 12);
        await using var server = await RelayServer.StartAsync(ReadyStore(Row("Tulsa", "OK", "1")), status);
        await using var browser = await BrowserSession.StartAsync();
        var page = await browser.OpenPageAsync(1280, 900);
        await page.NavigateAsync(server.BaseAddress);
        await page.WaitForAsync("document.body.dataset.loaded === 'true'", "the first status to render");
        Assert.Contains("started from checkpoint0/1000 (3 rows)", await page.TextAsync(Text("positions")));

        status.Checkpoints.CountWritten(new Lsn(0x2000), 3, 4096, 5);
        status.Checkpoints.CountUseless("slot advanced past the checkpoint");
        await page.WaitForAsync(Text("positions") + ".includes('0/2000')", "the new checkpoint");
        var positions = await page.TextAsync(Text("positions"));
        Assert.Contains("1 written", positions);
        Assert.Contains("useless checkpoints1: slot advanced past the checkpoint", positions);
        Assert.Empty(page.Errors);
    }

    [ChromiumFact]
    public async Task Dashboard_shows_the_store_and_follows_a_commit_without_reloading()
    {
        var store = ReadyStore(Row("Tulsa", "OK", "1"), Row("Salem", "OR", "2"));
        var status = new ReplicationStatus { Phase = ReplicationPhase.Streaming, SlotName = "pgrelay_test" };
        await using var server = await RelayServer.StartAsync(store, status, services =>
            services.AddSingleton<IProtocolConnectionCounter>(new FixedCounter("redis", 3)));
        await using var browser = await BrowserSession.StartAsync();
        var page = await browser.OpenPageAsync(1280, 900);
        await page.NavigateAsync(server.BaseAddress);
        await page.WaitForAsync("document.body.dataset.loaded === 'true'", "the first status to render");

        Assert.Equal("2", await page.TextAsync(TableCell("pub", "geo.cities", "rows")));
        Assert.Equal("1", await page.TextAsync(TableCell("pub", "everything", "rows")));
        Assert.Equal("3", await page.TextAsync(Text("total-rows")));
        Assert.Equal("streaming", await page.TextAsync(Text("phase")));
        Assert.Equal("ready", await page.TextAsync(Text("ready")));
        Assert.Equal("pgrelay_test", await page.TextAsync(Text("slot")));
        Assert.Equal("3", await page.TextAsync(Connections("redis")));
        Assert.Null(await page.TextAsync(Connections("memcached")));   // not listening, not listed
        Assert.Equal("No sinks configured.", await page.TextAsync(Text("sinks")));
        // The page's own EventSource is the one open change stream.
        await page.WaitForAsync(Connections("http-sse") + " === '1'", "the page's change stream to be counted");
        await page.EvaluateAsync("window.sameDocument = true");

        // A commit that also leaves the relay 16 KiB and a few seconds behind the server.
        var txn = Txn(new RowChange(ChangeKind.Insert, Cities, Row("Austin", "TX", "3")),
            new RowChange(ChangeKind.Update, Cities, Row("Tulsa", "OK", "4")));
        status.LastCommitTime = DateTimeOffset.UtcNow.AddSeconds(-3);
        status.AppliedLsn = txn.CommitLsn;
        status.ReceivedLsn = status.ServerWalEnd = new Lsn(txn.CommitLsn.Value + 0x4000);
        status.CountTransaction(2);
        store.Apply(txn);

        await page.WaitForAsync(TableCell("pub", "geo.cities", "rows") + " === '3'", "the new row count");
        await page.WaitForAsync($"document.querySelector('#changes li[data-lsn=\"{txn.CommitLsn}\"]')", "the transaction in the feed list");
        await page.WaitForAsync(Text("lag-bytes") + " === '16 KiB'", "the lag in bytes");
        await page.WaitForAsync(Text("transactions") + " === '1'", "the transaction count");
        Assert.EndsWith(" s", await page.TextAsync(Text("lag-seconds")));   // seconds, not "0 ms"
        Assert.Contains("pub.geo.cities ×2", await page.TextAsync($"document.querySelector('#changes li[data-lsn=\"{txn.CommitLsn}\"]').textContent"));
        // The chart picks the lag up from the server's once-a-second samples.
        await page.WaitForAsync(Text("lag-max-bytes") + " === '16 KiB'", "a lag sample in the chart");
        Assert.True((await page.EvaluateAsync("document.querySelectorAll('#lag-chart polyline').length")).GetInt32() == 2);
        Assert.True((await page.EvaluateAsync("window.sameDocument === true")).GetBoolean(), "the page reloaded instead of updating");
        Assert.Empty(page.Errors);

        var png = PngImage.Decode(await page.ScreenshotAsync());
        Assert.Equal((1280, 900), (png.Width, png.Height));
        Assert.True(png.DistinctColours() > 100, $"only {png.DistinctColours()} colours: the page looks blank");
        Assert.True(png.CountPixels(Rgb(HeaderColour)) > 1280 * 30, "the dark header bar is missing");
        Assert.True(png.CountPixels(Rgb(AccentColour)) > 0, "nothing is drawn in the chart's colour");
    }

    [ChromiumFact]
    public async Task Dashboard_follows_snapshot_progress_until_ready()
    {
        var store = LoadingStore(Row("Tulsa", "OK", "1"));
        var status = new ReplicationStatus { Phase = ReplicationPhase.Snapshotting, SnapshotTablesTotal = 2, SnapshotRowsEstimated = 5 };
        status.CountSnapshotRows(2);
        await using var server = await RelayServer.StartAsync(store, status);
        await using var browser = await BrowserSession.StartAsync();
        var page = await browser.OpenPageAsync();
        await page.NavigateAsync(server.BaseAddress);
        await page.WaitForAsync("document.body.dataset.loaded === 'true'", "the first status to render");
        Assert.Equal("not ready", await page.TextAsync(Text("ready")));
        Assert.Equal("snapshotting", await page.TextAsync(Text("phase")));
        Assert.Equal("40%: 2 of about 5 rows, 0 of 2 tables", await page.TextAsync(Text("snapshot-text")));
        Assert.Equal("40%", await page.TextAsync("document.getElementById('snapshot-bar').style.width"));

        status.CountSnapshotRows(1);
        status.CountSnapshotTableDone();
        status.CountSnapshotTableDone();
        store.CompleteSnapshot(new Lsn(0x2000));
        status.Phase = ReplicationPhase.Streaming;
        await page.WaitForAsync(Text("ready") + " === 'ready'", "readiness");
        await page.WaitForAsync(Text("snapshot-text") + " === 'complete: 3 rows, 2 of 2 tables'", "the completed snapshot");
        Assert.Equal("100%", await page.TextAsync("document.getElementById('snapshot-bar').style.width"));
        Assert.Equal("streaming", await page.TextAsync(Text("phase")));
        Assert.Empty(page.Errors);
    }

    [ChromiumFact]
    public async Task Dashboard_shows_lag_history_sinks_and_clients_and_saves_a_screenshot()
    {
        var showcase = new DashboardShowcase();
        await using var server = await RelayServer.StartAsync(showcase.Store, showcase.Status, services =>
        {
            services.AddSingleton(showcase.History);
            services.AddSingleton<IProtocolConnectionCounter>(new FixedCounter("redis", 12));
            services.AddSingleton<IProtocolConnectionCounter>(new FixedCounter("memcached", 4));
            services.AddSingleton<ISinkCheckpointSource>(new ShowcaseSinks(showcase));
        });
        await using var browser = await BrowserSession.StartAsync();
        var page = await browser.OpenPageAsync(1440, 900);
        await page.NavigateAsync(server.BaseAddress);
        await page.WaitForAsync("document.body.dataset.loaded === 'true'", "the first status to render");
        await page.WaitForAsync(Connections("http-sse") + " === '1'", "the page's change stream");
        showcase.ApplySomeTraffic();
        await page.WaitForAsync("document.querySelectorAll('#changes li[data-lsn]').length === 6", "six transactions in the feed list");
        await page.WaitForAsync(TableCell("shop", "orders", "rows") + " === '18,406'", "the orders count after the traffic");

        // The whole history arrived with the first poll: ten minutes of samples, the bulk load's peak included.
        Assert.True((await page.EvaluateAsync("samples.length")).GetInt32() >= 600);
        Assert.Equal("3.4 s", await page.TextAsync(Text("lag-max-seconds")));
        Assert.Equal("16", await page.TextAsync(TableCell("pub", "grades", "rows")));
        Assert.Equal("complete: 19,666 rows, 3 of 3 tables", await page.TextAsync(Text("snapshot-text")));
        Assert.Equal("12", await page.TextAsync(Connections("redis")));
        Assert.Equal("4", await page.TextAsync(Connections("memcached")));
        await page.WaitForAsync("document.querySelector('#sinks tr[data-sink=\"orders-webhook\"] td.behind')?.textContent === '4.5 KiB'",
            "the webhook sink 4.5 KiB behind");
        Assert.Equal("0 B", await page.TextAsync("document.querySelector('#sinks tr[data-sink=\"warehouse\"] td.behind').textContent"));
        Assert.Equal("retrying", await page.TextAsync("document.querySelector('#sinks tr[data-sink=\"orders-webhook\"] td.state').textContent"));
        Assert.Contains("503 Service Unavailable", await page.TextAsync("document.querySelector('#sinks tr.sink-error').textContent"));
        Assert.Empty(page.Errors);

        // Whole page at its natural height, for docs/dashboard.png (PGRELAY_DASHBOARD_SCREENSHOT=path writes it).
        int height = (await page.EvaluateAsync("Math.ceil(document.documentElement.scrollHeight)")).GetInt32();
        await page.ResizeAsync(1440, height);
        await page.EvaluateAsync("new Promise(r => requestAnimationFrame(() => { renderChart(); requestAnimationFrame(r); }))");
        byte[] bytes = await page.ScreenshotAsync();
        var png = PngImage.Decode(bytes);
        Assert.Equal((1440, height), (png.Width, png.Height));
        Assert.True(png.DistinctColours() > 200, $"only {png.DistinctColours()} colours");
        if (Environment.GetEnvironmentVariable("PGRELAY_DASHBOARD_SCREENSHOT") is { Length: > 0 } path) await File.WriteAllBytesAsync(path, bytes);
    }

    [ChromiumFact]
    public async Task A_browser_EventSource_resumes_with_Last_Event_ID_after_a_dropped_connection()
    {
        var store = ReadyStore();
        var streams = new StreamTap();
        await using var server = await RelayServer.StartAsync(store, configureApp: streams.Install);
        await using var browser = await BrowserSession.StartAsync();
        var page = await browser.OpenPageAsync();
        await page.NavigateAsync(new Uri(server.BaseAddress, "/?feed=off"));   // the dashboard's own stream stays out of the way
        var counter = server.Services.GetRequiredService<SseConnectionCounter>();

        await page.EvaluateAsync("""
            window.got = []; window.resets = [];
            window.feed = new EventSource('/changes');
            feed.addEventListener('transaction', e => got.push(e.lastEventId + ' ' + JSON.parse(e.data).changes[0].key));
            """);
        await WaitUntilAsync(() => counter.OpenConnections == 1, "the browser's stream to open");
        var first = Insert("A");
        store.Apply(first);
        await page.WaitForAsync("got.length === 1", "the first event");

        streams.AbortAll();   // as a proxy timing out or a network blip would
        var missed = new[] { Insert("B"), Insert("C") };
        foreach (var t in missed) store.Apply(t);
        await page.WaitForAsync("got.length === 3", "the missed events after the reconnect");
        var last = Insert("D");
        store.Apply(last);
        await page.WaitForAsync("got.length === 4", "a live event after the resume");

        string[] expected = [.. new[] { first, missed[0], missed[1], last }.Select((t, i) => t.CommitLsn + " " + "ABCD"[i] + "/1")];
        Assert.Equal(expected, (await page.EvaluateAsync("got")).EnumerateArray().Select(e => e.GetString()!));
        Assert.Contains(first.CommitLsn.ToString(), streams.LastEventIds);   // the browser said where it was

        // A position the feed no longer has: the browser gets an explicit reset event.
        await page.EvaluateAsync("""
            window.old = new EventSource('/changes?after=0/1');
            old.addEventListener('reset', e => resets.push(e.lastEventId));
            """);
        await page.WaitForAsync("resets.length === 1", "a reset event");
        Assert.Equal(last.CommitLsn.ToString(), (await page.EvaluateAsync("resets[0]")).GetString());
        await page.EvaluateAsync("feed.close(); old.close()");
        Assert.Empty(page.Errors);
    }

    private static Transaction Insert(string name) => Txn(new RowChange(ChangeKind.Insert, Cities, Row(name, "1", "1")));

    private static int Rgb(string hex) => Convert.ToInt32(hex[1..], 16);

    private static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("waited 30 s for " + what);
            await Task.Delay(50);
        }
    }

    private sealed class ShowcaseSinks(DashboardShowcase showcase) : ISinkCheckpointSource
    {
        public IReadOnlyList<SinkCheckpoint> Checkpoints => showcase.Sinks;
    }

    /// <summary>Remembers open change streams so a test can drop them, and the Last-Event-ID each one arrived with.</summary>
    private sealed class StreamTap
    {
        private readonly ConcurrentDictionary<HttpContext, bool> _open = new();
        public ConcurrentBag<string> LastEventIds { get; } = [];

        public void Install(WebApplication app) => app.Use(async (context, next) =>
        {
            if (!context.Request.Path.StartsWithSegments("/changes")) { await next(context); return; }
            if (context.Request.Headers["Last-Event-ID"] is { Count: > 0 } id) LastEventIds.Add(id.ToString());
            _open[context] = true;
            try { await next(context); }
            finally { _open.TryRemove(context, out _); }
        });

        public void AbortAll()
        {
            foreach (var context in _open.Keys) context.Abort();
        }
    }
}

/// <summary>One Chromium at a time: the machine has two cores shared with everything else.</summary>
[CollectionDefinition(nameof(BrowserCollection), DisableParallelization = true)]
public sealed class BrowserCollection;
