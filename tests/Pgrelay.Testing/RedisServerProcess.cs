using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Pgrelay.Testing;

/// <summary>A throwaway real redis-server (/usr/bin/redis-server) on a free loopback port, without persistence.</summary>
public sealed class RedisServerProcess : IAsyncDisposable
{
    private readonly Process _process;

    private RedisServerProcess(Process process, int port)
    {
        _process = process;
        Port = port;
    }

    public int Port { get; }
    public string Address => $"127.0.0.1:{Port}";

    public static async Task<RedisServerProcess> StartAsync()
    {
        int port = FreeTcpPort.Next();
        var start = new ProcessStartInfo("redis-server") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "--port", port.ToString(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no" }) start.ArgumentList.Add(a);
        var process = Process.Start(start)!;
        _ = process.StandardOutput.ReadToEndAsync();
        _ = process.StandardError.ReadToEndAsync();
        for (int attempt = 0; attempt < 200; attempt++)
        {
            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync(IPAddress.Loopback, port);
                var stream = client.GetStream();
                await stream.WriteAsync("PING\r\n"u8.ToArray());
                var buffer = new byte[16];
                int n = await stream.ReadAsync(buffer);
                if (n >= 5 && System.Text.Encoding.ASCII.GetString(buffer, 0, n).StartsWith("+PONG")) return new RedisServerProcess(process, port);
            }
            catch (SocketException) { }
            await Task.Delay(50);
        }
        process.Kill();
        throw new InvalidOperationException("redis-server did not start");
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited) _process.Kill();
        await _process.WaitForExitAsync();
        _process.Dispose();
    }
}
