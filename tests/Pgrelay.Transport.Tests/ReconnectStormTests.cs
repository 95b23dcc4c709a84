using System.Net;
using System.Net.Sockets;
using System.Text;
using Pgrelay.Testing;
using Xunit;

namespace Pgrelay.Transport.Tests;

/// <summary>
/// A reconnect storm against the listener that accepts on its event loop: thousands of connect/close cycles, resets
/// before and after a request, half-open clients that never speak, more clients than the quota, while one client keeps
/// being served. Afterwards nothing is left: no connection, no quota slot, no descriptor (/proc/self/fd).
/// </summary>
// It counts the process's descriptors before and after: other test classes opening sockets, pipes and assemblies at the
// same time would count as leaks, so it runs alone (a full run failed on +13 descriptors from the TLS tests beside it).
[Collection(nameof(ReconnectStormTests))]
public sealed class ReconnectStormTests
{
    private const int Cycles = 2000, Parallel = 4, HalfOpen = 24, Quota = 16;
    private static readonly TimeSpan HangGuard = TimeSpan.FromMinutes(3);

    private static int OpenDescriptors() => Directory.GetFiles("/proc/self/fd").Length;

    private static async Task<string> ReadLineAsync(NetworkStream stream, CancellationToken ct)
    {
        var line = new List<byte>();
        var one = new byte[1];
        while (true)
        {
            if (await stream.ReadAsync(one, ct) == 0) return line.Count == 0 ? "(closed)" : Encoding.ASCII.GetString([.. line]);
            if (one[0] == '\n') return Encoding.ASCII.GetString([.. line]);
            line.Add(one[0]);
        }
    }

    private static Socket Reset(Socket socket)
    {
        socket.LingerState = new LingerOption(true, 0);   // close sends RST
        return socket;
    }

    /// <summary>One cycle of kind <paramref name="kind"/>: close at once, reset at once, reset mid-line, or a whole request.</summary>
    private static async Task CycleAsync(int port, int kind, CancellationToken ct)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), ct);
        switch (kind)
        {
            case 0:
                break;
            case 1:
                Reset(socket);
                break;
            case 2:
                await socket.SendAsync("half a li"u8.ToArray(), SocketFlags.None, ct);
                Reset(socket);
                break;
            default:
                using (var stream = new NetworkStream(socket, ownsSocket: false))
                {
                    await stream.WriteAsync("hi\n"u8.ToArray(), ct);
                    var answer = await ReadLineAsync(stream, ct);
                    // Over the quota the protocol's words come instead; either way an answer, never a hang.
                    if (answer != "hi" && answer != "BUSY") throw new InvalidOperationException($"answer '{answer}'");
                }
                break;
        }
    }

    [Fact]
    public async Task A_reconnect_storm_leaks_nothing_and_a_connected_client_keeps_being_served()
    {
        using var guard = new CancellationTokenSource(HangGuard);
        var echo = new LineEcho();
        await using var listener = TestListener.Start(echo, new ConnectionQuota(Quota), new ConnectionLimits());
        int port = listener.Port;

        using var steady = new TcpClient();
        await steady.ConnectAsync(IPAddress.Loopback, port, guard.Token);
        var steadyStream = steady.GetStream();
        await steadyStream.WriteAsync("warm\n"u8.ToArray(), guard.Token);
        Assert.Equal("warm", await ReadLineAsync(steadyStream, guard.Token));
        // .NET's own socket engine (its epoll and pipe) exists from here on: what is counted next is the listener's.
        await CycleAsync(port, 3, guard.Token);
        await Eventually(() => listener.Listener.ConnectionCount == 1, guard.Token);
        int before = OpenDescriptors();

        bool stormOver = false;
        int steadyRounds = 0;
        var served = Task.Run(async () =>
        {
            while (!Volatile.Read(ref stormOver))
            {
                string line = $"steady {steadyRounds}";
                await steadyStream.WriteAsync(Encoding.ASCII.GetBytes(line + "\n"), guard.Token);
                Assert.Equal(line, await ReadLineAsync(steadyStream, guard.Token));
                steadyRounds++;
            }
        });

        // Half-open clients: connected, never a byte, more of them than the quota leaves room for.
        var silent = new List<Socket>();
        for (int i = 0; i < HalfOpen; i++)
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), guard.Token);
            silent.Add(socket);
        }
        var storms = Enumerable.Range(0, Parallel).Select(p => Task.Run(async () =>
        {
            for (int i = p; i < Cycles; i += Parallel) await CycleAsync(port, i % 4, guard.Token);
        })).ToList();
        await Task.WhenAll(storms).WaitAsync(guard.Token);
        foreach (var socket in silent) Reset(socket).Dispose();
        Volatile.Write(ref stormOver, true);
        await served.WaitAsync(guard.Token);
        Assert.True(steadyRounds > 0);

        // Every connection but the steady one is gone, with its quota slot and its descriptor; every session heard its close once.
        await Eventually(() => listener.Listener.ConnectionCount == 1, guard.Token);
        await Eventually(() => echo.Sessions.Count(s => s.ClosedCalls == 0) == 1, guard.Token,
            () => $"{echo.Sessions.Count(s => s.ClosedCalls == 0)} sessions not told of their close");
        Assert.All(echo.Sessions, s => Assert.True(s.ClosedCalls <= 1, $"{s.ClosedCalls} close calls"));
        await Eventually(() => OpenDescriptors() <= before, guard.Token,
            () => $"{OpenDescriptors()} descriptors open, {before} before the storm: {Descriptors()}");
        Assert.True(listener.Listener.Accepted >= Cycles, $"{listener.Listener.Accepted} accepted");
        Assert.True(echo.RejectedCount > 0, "the quota never refused a client");

        // And the listener still serves a new client, and the steady one.
        await CycleAsync(port, 3, guard.Token);
        await steadyStream.WriteAsync("still\n"u8.ToArray(), guard.Token);
        Assert.Equal("still", await ReadLineAsync(steadyStream, guard.Token));
    }

    private static string Descriptors() => string.Join(" ", Directory.GetFiles("/proc/self/fd").Select(f =>
    {
        try { return new FileInfo(f).LinkTarget; }
        catch (IOException) { return "?"; }
    }));

    private static async Task Eventually(Func<bool> condition, CancellationToken ct, Func<string>? describe = null)
    {
        while (!condition())
        {
            if (ct.IsCancellationRequested) throw new TimeoutException(describe?.Invoke() ?? "condition not met");
            try { await Task.Delay(20, ct); }
            catch (OperationCanceledException) { }
        }
    }
}

[CollectionDefinition(nameof(ReconnectStormTests), DisableParallelization = true)]
public sealed class ReconnectStormCollection;
