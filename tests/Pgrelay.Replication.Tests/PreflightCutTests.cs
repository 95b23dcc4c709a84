using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using Pgrelay.Replication.Connection;
using Pgrelay.Testing;
using Xunit;

namespace Pgrelay.Replication.Tests;

/// <summary>
/// A source that goes away in the middle of preflight (a restart or shutdown between the connect and the checks) is a
/// transient failure like a refused connect, wherever the cut falls: the CLI runs preflight before the service's retries,
/// so anything else escaped as an unhandled exception and pgrelay exited on a flapping PostgreSQL (FlappingSourceTests).
/// </summary>
public sealed class PreflightCutTests(PostgresFixture pg) : IClassFixture<PostgresFixture>
{
    [Fact]
    public async Task A_connection_cut_before_any_query_of_preflight_is_transient_or_preflight_passes()
    {
        var database = await pg.NewDatabaseAsync("cut");
        await pg.ExecuteAsync(database, "CREATE TABLE t (id int PRIMARY KEY); CREATE PUBLICATION pub FOR TABLE t;");
        using var guard = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        var outcomes = new List<string>();
        bool passedOnce = false;
        for (int cutAt = 1; cutAt <= 12 && !passedOnce; cutAt++)
        {
            await using var proxy = CuttingProxy.Start(pg.Cluster.Port, cutAt);
            var source = SourceOptions.Parse($"postgres://postgres@127.0.0.1:{proxy.Port}/{database}");
            try
            {
                await Preflight.RunAsync(source, ["pub"], guard.Token).WaitAsync(guard.Token);
                passedOnce = true;   // the cut came after the last query: every earlier one was tried
                outcomes.Add($"{cutAt}: passed");
            }
            catch (ReplicationSetupException e) when (e.IsTransient)
            {
                outcomes.Add($"{cutAt}: transient ({e.Message})");
            }
            catch (Exception e)
            {
                Assert.Fail($"a cut at query {cutAt} ended preflight with {e.GetType().Name}: {e.Message}\n{string.Join("\n", outcomes)}");
            }
        }
        Assert.True(passedOnce, string.Join("\n", outcomes));
    }

    /// <summary>
    /// Relays one client to PostgreSQL and closes both ends when the client sends its <c>cutAt</c>-th query (a simple
    /// Query or an extended-protocol Sync), as a server shutting down between two queries looks to the client.
    /// </summary>
    private sealed class CuttingProxy : IAsyncDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly CancellationTokenSource _stop = new();
        private readonly List<Socket> _sockets = [];
        private Task _run = Task.CompletedTask;

        public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

        public static CuttingProxy Start(int serverPort, int cutAt)
        {
            var proxy = new CuttingProxy();
            proxy._listener.Start();
            proxy._run = proxy.RunAsync(serverPort, cutAt);
            return proxy;
        }

        private async Task RunAsync(int serverPort, int cutAt)
        {
            int queries = 0;   // over every connection: Npgsql may open more than one
            try
            {
                while (!_stop.IsCancellationRequested)
                {
                    var client = await _listener.AcceptSocketAsync(_stop.Token);
                    var server = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                    await server.ConnectAsync(new IPEndPoint(IPAddress.Loopback, serverPort), _stop.Token);
                    lock (_sockets) _sockets.AddRange([client, server]);
                    _ = PumpAsync(server, client, null);
                    _ = PumpAsync(client, server, () => Interlocked.Increment(ref queries) >= cutAt);
                }
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException) { }
        }

        /// <summary>Copies <paramref name="from"/> to <paramref name="to"/>; with <paramref name="cut"/>, parses the client's
        /// messages and closes both sockets instead of passing on the query <paramref name="cut"/> says is the one.</summary>
        private async Task PumpAsync(Socket from, Socket to, Func<bool>? cut)
        {
            var buffer = new byte[65536];
            var pending = new List<byte>();
            bool startup = true;
            try
            {
                while (true)
                {
                    int n = await from.ReceiveAsync(buffer, SocketFlags.None, _stop.Token);
                    if (n == 0) break;
                    if (cut is null)
                    {
                        await to.SendAsync(buffer.AsMemory(0, n), SocketFlags.None, _stop.Token);
                        continue;
                    }
                    pending.AddRange(buffer.AsSpan(0, n).ToArray());
                    while (true)
                    {
                        // Startup-phase messages (SSLRequest, GSSENCRequest, StartupMessage) have no type byte.
                        int header = startup ? 4 : 5;
                        if (pending.Count < header) break;
                        int length = BinaryPrimitives.ReadInt32BigEndian(pending.GetRange(header - 4, 4).ToArray());
                        int total = (startup ? 0 : 1) + length;
                        if (pending.Count < total) break;
                        var message = pending.GetRange(0, total).ToArray();
                        pending.RemoveRange(0, total);
                        if (startup)
                        {
                            int code = BinaryPrimitives.ReadInt32BigEndian(message.AsSpan(4));
                            startup = code is 80877103 or 80877104;   // a request to encrypt: the StartupMessage follows
                        }
                        else if ((message[0] == (byte)'Q' || message[0] == (byte)'S') && cut())
                        {
                            from.Close();
                            to.Close();
                            return;
                        }
                        await to.SendAsync(message, SocketFlags.None, _stop.Token);
                    }
                }
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException) { }
            try { to.Shutdown(SocketShutdown.Send); }
            catch (Exception e) when (e is SocketException or ObjectDisposedException) { }
        }

        public async ValueTask DisposeAsync()
        {
            _stop.Cancel();
            _listener.Stop();
            lock (_sockets) foreach (var socket in _sockets) socket.Dispose();
            await _run;
        }
    }
}
