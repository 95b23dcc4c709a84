using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;

namespace Pgrelay.Http.Tests.Browser;

/// <summary>
/// Debian's Chromium started headless with a fresh profile and the DevTools protocol on a loopback port.
/// The flags keep it from reaching the network on its own (the machine only has loopback) and from
/// needing a sandbox, a GPU or a first-run dialog.
/// </summary>
internal sealed partial class HeadlessChromium : IAsyncDisposable
{
    public const string DefaultExecutable = "/usr/bin/chromium";
    private static readonly TimeSpan StartLimit = TimeSpan.FromSeconds(60);

    private readonly Process _process;
    private readonly DirectoryInfo _profile;
    private readonly StringBuilder _log;

    private HeadlessChromium(Process process, DirectoryInfo profile, StringBuilder log)
    {
        _process = process;
        _profile = profile;
        _log = log;
    }

    /// <summary>The browser-level DevTools websocket.</summary>
    public Uri DevToolsUrl { get; private set; } = null!;

    /// <summary>PGRELAY_CHROMIUM, else Debian's /usr/bin/chromium; null when neither exists.</summary>
    public static string? Executable
    {
        get
        {
            string? configured = Environment.GetEnvironmentVariable("PGRELAY_CHROMIUM");
            if (!string.IsNullOrEmpty(configured)) return File.Exists(configured) ? configured : null;
            return File.Exists(DefaultExecutable) ? DefaultExecutable : null;
        }
    }

    public string Log
    {
        get { lock (_log) return _log.ToString(); }
    }

    public static async Task<HeadlessChromium> StartAsync()
    {
        string executable = Executable ?? throw new InvalidOperationException($"no Chromium at {DefaultExecutable} (or PGRELAY_CHROMIUM)");
        var profile = Directory.CreateTempSubdirectory("pgrelay-chromium-");
        var start = new ProcessStartInfo(executable)
        {
            UseShellExecute = false,
            RedirectStandardError = true,
            RedirectStandardOutput = true,
        };
        foreach (var flag in (string[])[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-dev-shm-usage", "--hide-scrollbars", "--force-device-scale-factor=1", "--lang=en-US",
            "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
            "--user-data-dir=" + profile.FullName, "about:blank"])
            start.ArgumentList.Add(flag);

        var log = new StringBuilder();
        var listening = new TaskCompletionSource<Uri>(TaskCreationOptions.RunContinuationsAsynchronously);
        var process = new Process { StartInfo = start, EnableRaisingEvents = true };
        DataReceivedEventHandler collect = (_, e) =>
        {
            if (e.Data is null) return;
            lock (log) log.AppendLine(e.Data);
            if (DevToolsLine().Match(e.Data) is { Success: true } match) listening.TrySetResult(new Uri(match.Groups[1].Value));
        };
        process.ErrorDataReceived += collect;
        process.OutputDataReceived += collect;
        process.Exited += (_, _) => listening.TrySetException(new InvalidOperationException("chromium exited before DevTools listened"));
        process.Start();
        process.BeginErrorReadLine();
        process.BeginOutputReadLine();
        var browser = new HeadlessChromium(process, profile, log);
        try
        {
            browser.DevToolsUrl = await listening.Task.WaitAsync(StartLimit);
            return browser;
        }
        catch (Exception e)
        {
            string output = browser.Log;
            await browser.DisposeAsync();
            throw new InvalidOperationException($"chromium did not start: {e.Message}\n{output}", e);
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited) _process.Kill(entireProcessTree: true);   // this browser's own renderer and helpers only
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        }
        catch (InvalidOperationException) { }   // never started
        catch (TimeoutException) { }
        _process.Dispose();
        try { _profile.Delete(recursive: true); }
        catch (IOException) { }   // a helper may still hold a file for a moment; the temp dir is cleaned eventually
    }

    [GeneratedRegex(@"DevTools listening on (ws://\S+)")]
    private static partial Regex DevToolsLine();
}
