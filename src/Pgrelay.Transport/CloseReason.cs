namespace Pgrelay.Transport;

/// <summary>Why a connection ended, for the session's counters and the log.</summary>
public enum CloseReason
{
    None,
    /// <summary>The client closed, reset or broke the connection.</summary>
    ClientGone,
    /// <summary>The session asked (QUIT, a protocol error, CLIENT KILL, a deleted user).</summary>
    Requested,
    IdleTimeout,
    QueryBufferLimit,
    OutputBufferLimit,
    ServerStopping,
    /// <summary>The protocol refused the connection before it had a session (Redis's protected mode).</summary>
    Refused,
    /// <summary>The TLS handshake failed or did not finish in time.</summary>
    TlsHandshake,
    /// <summary>A bug: the session threw. Logged; only this connection ends.</summary>
    Fault,
}
