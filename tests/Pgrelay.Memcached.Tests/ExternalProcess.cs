using System.Diagnostics;

namespace Pgrelay.Memcached.Tests;

/// <summary>Runs a real client tool with a hard time limit.</summary>
internal static class ExternalProcess
{
    public static string Find(string tool, string package)
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin").Split(':'))
        {
            var path = Path.Combine(dir, tool);
            if (File.Exists(path)) return path;
        }
        throw new InvalidOperationException($"{tool} is not installed: apt-get install -y {package}");
    }

    public static (int ExitCode, string Stdout, string Stderr) Run(string tool, string package, params string[] args)
    {
        var info = new ProcessStartInfo(Find(tool, package)) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) info.ArgumentList.Add(a);
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(30_000))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{tool} {string.Join(' ', args)} did not finish");
        }
        return (process.ExitCode, stdout.Result, stderr.Result);
    }
}

/// <summary>A real memcached on a free loopback port, to compare wording with.</summary>
public sealed class RealMemcachedFixture : IDisposable
{
    private readonly Process _process;

    public RealMemcachedFixture() : this([])
    {
    }

    /// <summary>With more command-line options (say <c>-c 40</c>); not for xunit, which wants one public constructor.</summary>
    internal RealMemcachedFixture(string[] options)
    {
        for (int attempt = 0; ; attempt++)
        {
            Port = FreeTcpPort.Next();
            var info = new ProcessStartInfo(ExternalProcess.Find("memcached", "memcached"))
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            foreach (var a in new[] { "-l", "127.0.0.1", "-p", Port.ToString(), "-U", "0", "-u", "root", "-m", "16" }.Concat(options)) info.ArgumentList.Add(a);
            _process = Process.Start(info)!;
            if (WaitUntilListening()) return;
            _process.Kill();
            _process.WaitForExit(5000);
            _process.Dispose();
            if (attempt == 4) throw new InvalidOperationException("memcached did not start");
        }
    }

    public int Port { get; private set; }

    public RawClient Connect() => new(Port);

    private bool WaitUntilListening()
    {
        for (int i = 0; i < 100 && !_process.HasExited; i++)
        {
            try
            {
                using var c = new RawClient(Port);
                return true;
            }
            catch (System.Net.Sockets.SocketException)
            {
                Thread.Sleep(50);
            }
        }
        return false;
    }

    public void Dispose()
    {
        if (!_process.HasExited) _process.Kill();
        _process.WaitForExit(5000);
        _process.Dispose();
    }
}
