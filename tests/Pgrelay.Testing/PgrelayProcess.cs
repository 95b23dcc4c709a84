using System.Diagnostics;

namespace Pgrelay.Testing;

/// <summary>
/// Runs the built pgrelay executable (pgrelay.dll beside the test assembly, which references src/Pgrelay) as a separate
/// process, the way a user does, so it can be stopped with Ctrl+C or killed like a crash.
/// </summary>
public sealed class PgrelayProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly System.Text.StringBuilder _stderr = new(), _stdout = new();

    private PgrelayProcess(Process process)
    {
        _process = process;
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (_stderr) _stderr.AppendLine(e.Data); };
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (_stdout) _stdout.AppendLine(e.Data); };
        process.BeginErrorReadLine();
        process.BeginOutputReadLine();
    }

    public string Stderr { get { lock (_stderr) return _stderr.ToString(); } }
    public string Stdout { get { lock (_stdout) return _stdout.ToString(); } }
    /// <summary>Both streams, for failure messages.</summary>
    public string Output => $"--- stderr ---\n{Stderr}--- stdout ---\n{Stdout}";
    public bool HasExited => _process.HasExited;
    public int ExitCode => _process.ExitCode;

    public static PgrelayProcess Start(params string[] args) => StartWith(new Dictionary<string, string>(), args);

    /// <summary>Starts with extra environment variables (set after the caller's PGRELAY_* variables are cleared).</summary>
    public static PgrelayProcess StartWith(IReadOnlyDictionary<string, string> environment, params string[] args)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "pgrelay.dll"));
        foreach (var a in args) info.ArgumentList.Add(a);
        foreach (var key in info.Environment.Keys.Where(k => k.StartsWith("PGRELAY_")).ToList()) info.Environment.Remove(key);
        foreach (var (key, value) in environment) info.Environment[key] = value;
        return new PgrelayProcess(Process.Start(info)!);
    }

    public async Task<int> WaitForExitAsync(int seconds = 120)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(seconds));
        await _process.WaitForExitAsync(cts.Token);
        _process.WaitForExit();   // drains redirected output
        return _process.ExitCode;
    }

    /// <summary>SIGKILL: no shutdown code runs, nothing is flushed.</summary>
    public void Kill9()
    {
        _process.Kill();
        _process.WaitForExit();
    }

    /// <summary>
    /// Asks for a graceful stop with SIGTERM, as systemd or <c>docker stop</c> do (pgrelay treats it like Ctrl+C). Not
    /// SIGINT: a shell starts background jobs with SIGINT ignored, the children inherit that, and a test run started in
    /// the background would then see the process never stop. True when the process exited by itself within
    /// <paramref name="seconds"/>; otherwise it is killed and the answer is false.
    /// </summary>
    public async Task<bool> StopAsync(int seconds = 60)
    {
        if (_process.HasExited) return true;
        using (var kill = Process.Start("kill", ["-TERM", _process.Id.ToString()])) await kill.WaitForExitAsync();
        try
        {
            await WaitForExitAsync(seconds);
            return true;
        }
        catch (OperationCanceledException)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit();
            return false;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            await StopAsync();
            if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        }
        _process.Dispose();
    }
}
