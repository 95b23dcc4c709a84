using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Pgrelay.Resp.Acl;
using Pgrelay.Resp.Server;

namespace Pgrelay.Resp;

/// <summary>
/// The Kestrel entry point: <c>listenOptions.UseConnectionHandler&lt;RespConnectionHandler&gt;()</c>. Each
/// accepted connection becomes a <see cref="RespSession"/> until the client leaves.
/// </summary>
public sealed class RespConnectionHandler(RespServer server) : ConnectionHandler
{
    public override async Task OnConnectedAsync(ConnectionContext connection)
    {
        if (ProtectedMode.Refuses(server.Options, server.Acl, connection.RemoteEndPoint))
        {
            server.Stats.Rejected();
            await connection.Transport.Output.WriteAsync(ProtectedMode.DeniedReply.ToArray());
            await connection.Transport.Output.CompleteAsync();
            return;
        }
        server.Stats.Connection();
        if (!server.Clients.TryReserve())
        {
            server.Stats.Rejected();
            await connection.Transport.Output.WriteAsync("-ERR max number of clients reached\r\n"u8.ToArray());
            await connection.Transport.Output.CompleteAsync();
            return;
        }
        RespSession session;
        try
        {
            session = new RespSession(server, connection, server.Clients.NextId());
            server.Clients.Add(session);
        }
        catch
        {
            server.Clients.Unreserve();
            throw;
        }
        // When the server stops, Kestrel asks every connection to close. An idle client or a subscriber would otherwise
        // hold the stop until the host's shutdown timeout; ending the pending read ends the session once the commands
        // already received are answered.
        var lifetime = connection.Features.Get<IConnectionLifetimeNotificationFeature>();
        using var stopping = lifetime is null ? default
            : lifetime.ConnectionClosedRequested.Register(static c => ((ConnectionContext)c!).Transport.Input.CancelPendingRead(), connection);
        await session.RunAsync();
    }
}
