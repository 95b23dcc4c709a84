using System.Diagnostics;

namespace Pgrelay.Resp.Tests;

/// <summary>The real redis-cli and redis-server, for talking to pgrelay with real tools and for comparing replies.</summary>
public static class RedisTools
{
    public static async Task<string> CliAsync(int port, params string[] args)
    {
        var start = new ProcessStartInfo("redis-cli") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add("-h");
        start.ArgumentList.Add("127.0.0.1");
        start.ArgumentList.Add("-p");
        start.ArgumentList.Add(port.ToString());
        foreach (var a in args) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await process.WaitForExitAsync(cts.Token);
        return (await output + await error).TrimEnd('\n');
    }
}

/// <summary>A throwaway redis-server on a free loopback port.</summary>
public sealed class RealRedis : IAsyncDisposable
{
    private readonly Process _process;

    private RealRedis(Process process, int port)
    {
        _process = process;
        Port = port;
    }

    public int Port { get; }

    public static async Task<RealRedis> StartAsync(params string[] extraArguments)
    {
        int port = FreeTcpPort.Next();
        var start = new ProcessStartInfo("redis-server") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "--port", port.ToString(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no" }) start.ArgumentList.Add(a);
        foreach (var a in extraArguments) start.ArgumentList.Add(a);   // later arguments win (--bind 0.0.0.0)
        var process = Process.Start(start)!;
        _ = process.StandardOutput.ReadToEndAsync();
        _ = process.StandardError.ReadToEndAsync();
        for (int attempt = 0; attempt < 100; attempt++)
        {
            try
            {
                using var client = await RawClient.ConnectAsync(port);
                if (await client.CommandAsync("PING") is RespSimple { Text: "PONG" } or RespError { Message: ['N', ..] }) return new RealRedis(process, port);   // NOAUTH: up, with a password
            }
            catch (Exception) when (attempt < 99)
            {
                await Task.Delay(50);
            }
        }
        process.Kill();
        throw new InvalidOperationException("redis-server did not start");
    }

    public async ValueTask DisposeAsync()
    {
        _process.Kill();
        await _process.WaitForExitAsync();
        _process.Dispose();
    }
}
