using System.Net.Sockets;
using System.Security.Authentication;
using Npgsql;

namespace Pgrelay.Replication.Connection;

/// <summary>
/// Whether a failure to reach the source is one that waiting cures: the server is down, restarting, starting up, shutting
/// down or out of connection slots (what a replication client retries, as Debezium does). Everything else the server or
/// the TLS layer answered is the user's to fix (a wrong password, role or database, a refused certificate) and stops
/// start-up with one line instead of being retried forever.
/// </summary>
public static class TransientFailure
{
    public static bool Is(Exception failure)
    {
        bool broken = false;
        for (var e = failure; e is not null; e = e.InnerException)
        {
            switch (e)
            {
                // The server answered: its SQLSTATE says which.
                case PostgresException pg: return IsTransient(pg.SqlState);
                // The server's certificate was refused (or TLS is not offered): configuration, not weather.
                case AuthenticationException: return false;
                case SocketException or TimeoutException or IOException: broken = true; break;
            }
        }
        return broken || failure is NpgsqlException { IsTransient: true };
    }

    /// <summary>08: connection exceptions; 53: insufficient resources (53300 too many connections); 57P01 admin shutdown,
    /// 57P02 crash shutdown, 57P03 "the database system is starting up" (or in recovery, or shutting down).</summary>
    public static bool IsTransient(string sqlState) =>
        sqlState.StartsWith("08", StringComparison.Ordinal) || sqlState.StartsWith("53", StringComparison.Ordinal) ||
        sqlState is "57P01" or "57P02" or "57P03";
}
