using System.Runtime.CompilerServices;
using Npgsql;

namespace Pgrelay.Postgres.Wire;

/// <summary>
/// Takes the byte stream (TCP, unix socket or TLS over either) out of an open, idle <see cref="NpgsqlConnection"/>, so a
/// connection Npgsql opened can then be spoken to directly.
/// <para>
/// Why take Npgsql's stream rather than open our own: the connection is then exactly what every other pgrelay session
/// gets for the same source, whatever it needs (SCRAM with or without channel binding, md5, password files, Kerberos,
/// client certificates, every sslmode and sslrootcert rule, unix sockets, several hosts), because Npgsql did all of it.
/// A client of our own would have to repeat each of those and keep them the same as Npgsql's.
/// </para>
/// <para>
/// The cost is a few of Npgsql's internal members, reached with <see cref="UnsafeAccessorAttribute"/> (no reflection at
/// run time, bound on first call). If an Npgsql upgrade renames them, <see cref="TryTake"/> answers null with the reason
/// and callers keep using Npgsql's own API; the tests assert the takeover still happens, so an upgrade that breaks it
/// fails a test instead of quietly slowing the snapshot down.
/// </para>
/// </summary>
internal static class NpgsqlStreamTakeover
{
    private const string ConnectorType = "Npgsql.Internal.NpgsqlConnector, Npgsql";
    private const string ReadBufferType = "Npgsql.Internal.NpgsqlReadBuffer, Npgsql";

    /// <summary>
    /// The stream of <paramref name="connection"/>, or null (with <paramref name="reason"/>) when it cannot be taken safely.
    /// Afterwards Npgsql must never read or write the connection again; only closing it is allowed.
    /// </summary>
    public static Stream? TryTake(NpgsqlConnection connection, out string? reason)
    {
        reason = null;
        if (connection.FullState != System.Data.ConnectionState.Open)
        {
            reason = $"the connection is {connection.FullState}, not idle";
            return null;
        }
        if (new NpgsqlConnectionStringBuilder(connection.ConnectionString).KeepAlive > 0)
        {
            // Npgsql's keepalive timer would write a Sync into the stream and read its answer while we use it.
            reason = "the connection string turns on Npgsql's keepalive";
            return null;
        }
        try
        {
            var connector = Connector(connection);
            if (connector is null)
            {
                reason = "the connection has no connector";
                return null;
            }
            // Npgsql reads ahead into its buffer: bytes it holds would be lost to us. An idle connection holds none
            // (the server sends nothing after ReadyForQuery until it is asked), but check rather than assume.
            var buffer = ReadBuffer(connector);
            int unread = FilledBytes(buffer) - ReadPosition(buffer);
            if (unread != 0)
            {
                reason = $"Npgsql still holds {unread} unread bytes";
                return null;
            }
            var stream = StreamField(connector);
            if (stream is null)
            {
                reason = "the connection has no stream";
                return null;
            }
            // Npgsql leaves the socket's timeouts at whatever its last operation wanted (the connect timeout right after
            // opening). A COPY may legitimately be silent for long (a slow row filter, a busy server), and a dead peer is
            // TCP keepalive's business, as it is for Npgsql's own reads with CommandTimeout=0.
            if (SocketField(connector) is { } socket)
            {
                socket.ReceiveTimeout = 0;
                socket.SendTimeout = 0;
            }
            return stream;
        }
        catch (Exception e) when (e is MissingMemberException or MissingMethodException or MissingFieldException or TypeLoadException)
        {
            reason = $"this Npgsql version does not expose its connection stream as expected ({e.Message})";
            return null;
        }
    }

    [UnsafeAccessor(UnsafeAccessorKind.Method, Name = "get_Connector")]
    [return: UnsafeAccessorType(ConnectorType)]
    private static extern object? Connector(NpgsqlConnection connection);

    [UnsafeAccessor(UnsafeAccessorKind.Field, Name = "_stream")]
    private static extern ref Stream? StreamField([UnsafeAccessorType(ConnectorType)] object connector);

    [UnsafeAccessor(UnsafeAccessorKind.Field, Name = "_socket")]
    private static extern ref System.Net.Sockets.Socket? SocketField([UnsafeAccessorType(ConnectorType)] object connector);

    [UnsafeAccessor(UnsafeAccessorKind.Method, Name = "get_ReadBuffer")]
    [return: UnsafeAccessorType(ReadBufferType)]
    private static extern object ReadBuffer([UnsafeAccessorType(ConnectorType)] object connector);

    [UnsafeAccessor(UnsafeAccessorKind.Field, Name = "FilledBytes")]
    private static extern ref int FilledBytesField([UnsafeAccessorType(ReadBufferType)] object buffer);

    [UnsafeAccessor(UnsafeAccessorKind.Method, Name = "get_ReadPosition")]
    private static extern int ReadPosition([UnsafeAccessorType(ReadBufferType)] object buffer);

    private static int FilledBytes(object buffer) => FilledBytesField(buffer);
}
