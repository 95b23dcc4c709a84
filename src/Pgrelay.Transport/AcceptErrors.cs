using System.Net.Sockets;

namespace Pgrelay.Transport;

/// <summary>
/// What an error from accept() means for the accept loop. A client that went away between SYN and accept is
/// nobody's problem; running out of file descriptors or memory passes if we wait a little, and the loop must not
/// spin meanwhile; a closed listener ends the loop.
/// </summary>
internal enum AcceptErrorKind { Transient, BackOff, Stop }

internal static class AcceptErrors
{
    public static AcceptErrorKind Classify(Exception e) => e switch
    {
        ObjectDisposedException => AcceptErrorKind.Stop,
        SocketException { SocketErrorCode: SocketError.OperationAborted or SocketError.Interrupted or SocketError.Shutdown } => AcceptErrorKind.Stop,
        SocketException { SocketErrorCode: SocketError.ConnectionAborted or SocketError.ConnectionReset or SocketError.TimedOut or SocketError.HostUnreachable or SocketError.NetworkUnreachable or SocketError.ProtocolNotSupported } => AcceptErrorKind.Transient,
        SocketException { SocketErrorCode: SocketError.TooManyOpenSockets or SocketError.NoBufferSpaceAvailable } => AcceptErrorKind.BackOff,
        _ => AcceptErrorKind.BackOff,
    };
}
