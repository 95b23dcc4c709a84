using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.Extensions.Logging;
using Pgrelay.Memcached.Protocol;
using Pgrelay.Memcached.Server;

namespace Pgrelay.Memcached;

/// <summary>
/// The Kestrel entry point: <c>listenOptions.UseConnectionHandler&lt;MemcachedConnectionHandler&gt;()</c>. Each
/// accepted connection becomes a <see cref="MemcachedSession"/> until the client leaves or breaks the protocol.
/// </summary>
public sealed class MemcachedConnectionHandler(MemcachedServer server, ILogger<MemcachedConnectionHandler> logger) : ConnectionHandler
{
    public override async Task OnConnectedAsync(ConnectionContext connection)
    {
        var stats = server.Stats;
        Interlocked.Increment(ref stats.TotalConnections);
        if (Interlocked.Increment(ref stats.CurrentConnections) > server.Options.MaxConnections)
        {
            Interlocked.Decrement(ref stats.CurrentConnections);
            Interlocked.Increment(ref stats.RejectedConnections);
            try
            {
                await connection.Transport.Output.WriteAsync(Replies.TooManyConnections.ToArray());
                await connection.Transport.Output.CompleteAsync();
            }
            catch (Exception e) when (Sessions.IsDisconnect(e))
            {
            }
            return;
        }
        try
        {
            // When the server stops, Kestrel asks every connection to close; an idle client would otherwise hold the stop
            // until the host's shutdown timeout. Ending the pending read ends the session after what it already read.
            var lifetime = connection.Features.Get<IConnectionLifetimeNotificationFeature>();
            using var stopping = lifetime is null ? default
                : lifetime.ConnectionClosedRequested.Register(static c => ((ConnectionContext)c!).Transport.Input.CancelPendingRead(), connection);
            await new MemcachedSession(server, connection, logger).RunAsync();
        }
        finally
        {
            Interlocked.Decrement(ref stats.CurrentConnections);
        }
    }
}
