using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;

namespace Pgrelay.Memcached.Server;

internal static class Sessions
{
    /// <summary>The client went away: not worth a log line.</summary>
    public static bool IsDisconnect(Exception e) => e switch
    {
        ConnectionResetException or ConnectionAbortedException or OperationCanceledException or ObjectDisposedException => true,
        SocketException => true,
        IOException { InnerException: SocketException } => true,
        _ => false,
    };
}
