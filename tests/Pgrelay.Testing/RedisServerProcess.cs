using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Pgrelay.Testing;

/// <summary>A throwaway real redis-server (/usr/bin/redis-server) on a free loopback port, without persistence.</summary>
public sealed class RedisServerProcess : IAsyncDisposable
{
    private readonly Process _process;
    private int _disposed;

    private RedisServerProcess(Process process, int port)
    {
        _process = process;
        Port = port;
    }

    public int Port { get; }
    public string Address => $"127.0.0.1:{Port}";

    /// <param name="port">A given port (to start a server again where a stopped one listened); null: a free one.</param>
    /// <param name="arguments">More <c>--option value</c> pairs; later ones win (e.g. <c>--appendonly yes</c>).</param>
    public static async Task<RedisServerProcess> StartAsync(int? port = null, params string[] arguments)
    {
        int listen = port ?? FreeTcpPort.Next();
        var start = new ProcessStartInfo("redis-server") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "--port", listen.ToString(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no" }.Concat(arguments))
            start.ArgumentList.Add(a);
        var process = Process.Start(start)!;
        _ = process.StandardOutput.ReadToEndAsync();
        _ = process.StandardError.ReadToEndAsync();
        for (int attempt = 0; attempt < 200 && !process.HasExited; attempt++)
        {
            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync(IPAddress.Loopback, listen);
                var stream = client.GetStream();
                await stream.WriteAsync("PING\r\n"u8.ToArray());
                var buffer = new byte[16];
                int n = await stream.ReadAsync(buffer);
                if (n >= 5 && System.Text.Encoding.ASCII.GetString(buffer, 0, n) is var reply && (reply.StartsWith("+PONG") || reply.StartsWith("-NOAUTH"))) return new RedisServerProcess(process, listen);
            }
            catch (SocketException) { }
            catch (IOException) { }
            await Task.Delay(50);
        }
        if (!process.HasExited) process.Kill();
        throw new InvalidOperationException($"redis-server did not start on port {listen}");
    }

    /// <summary>SIGSTOP: the server keeps its connections but answers nothing until <see cref="Resume"/> (an unreachable server).</summary>
    public void Pause() => Signal(19);

    /// <summary>SIGCONT after <see cref="Pause"/>.</summary>
    public void Resume() => Signal(18);

    private void Signal(int signal)
    {
        if (kill(_process.Id, signal) != 0) throw new InvalidOperationException($"kill({_process.Id}, {signal}) failed: errno {Marshal.GetLastPInvokeError()}");
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int signal);

    /// <summary>SIGKILL, like a crash: what a server with <c>--appendfsync always</c> acknowledged survives it.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1) return;
        if (!_process.HasExited) _process.Kill();
        await _process.WaitForExitAsync();
        _process.Dispose();
    }
}
