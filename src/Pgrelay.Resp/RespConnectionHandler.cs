using Microsoft.AspNetCore.Connections;
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
        await session.RunAsync();
    }
}
