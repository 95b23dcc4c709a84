using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using Pgrelay.Transport.Buffers;

namespace Pgrelay.Transport;

/// <summary>
/// One accepted connection as a session sees it: where it comes from, its output buffer, and how to end it or ask
/// for a write from another thread. The pump that moves bytes (an event loop, or a TLS stream) lives in the subclass.
/// </summary>
public abstract class Connection
{
    private static long s_nextId;

    private readonly ConnectionLimits _limits;
    private long _queuedBytes;
    private long _unsentBytes;
    private long _softLimitSince;
    private long _peakPending;
    private long _lastInteraction = Environment.TickCount64;
    private int _closeReason;
    private string? _remoteAddress, _localAddress;   // racing first reads format the same text twice: harmless

    private protected Connection(ConnectionLimits limits, EndPoint? remote, EndPoint? local)
    {
        _limits = limits;
        Id = Interlocked.Increment(ref s_nextId);
        RemoteEndPoint = remote;
        LocalEndPoint = local;
    }

    /// <summary>Unique in the process, in accept order.</summary>
    public long Id { get; }
    public EndPoint? RemoteEndPoint { get; }
    public EndPoint? LocalEndPoint { get; }

    /// <summary><c>ip:port</c>, as Redis prints addresses (<c>[::1]:port</c> for IPv6); formatted when first asked for.</summary>
    public string RemoteAddress => _remoteAddress ??= Format(RemoteEndPoint);
    public string LocalAddress => _localAddress ??= Format(LocalEndPoint);

    public OutputBuffer Output { get; } = new();
    public ConnectionLimits Limits => _limits;

    /// <summary>True on a TLS listener; <see cref="ClientCertificate"/> is the client's verified certificate, if it sent one.</summary>
    public bool IsSecure { get; private protected set; }
    public X509Certificate2? ClientCertificate { get; private protected set; }

    public CloseReason CloseReason => (CloseReason)Volatile.Read(ref _closeReason);
    public bool IsClosing => Volatile.Read(ref _closeReason) != 0;

    /// <summary>Last time bytes moved either way (Environment.TickCount64), for the idle timeout and CLIENT LIST.</summary>
    public long LastInteraction => Volatile.Read(ref _lastInteraction);

    /// <summary>Bytes of the partial request buffered right now (CLIENT LIST qbuf).</summary>
    public abstract int QueryBufferLength { get; }

    /// <summary>Output written and not yet taken by the socket, plus out-of-band messages still queued (CLIENT LIST omem).</summary>
    public long PendingOutputBytes => Volatile.Read(ref _unsentBytes) + Volatile.Read(ref _queuedBytes);

    /// <summary>The most output this connection ever had pending (for giving memory back after it ends).</summary>
    internal long PeakPendingOutputBytes => Volatile.Read(ref _peakPending);

    internal IProtocolSession? Session { get; set; }

    /// <summary>Ends the connection now, from any thread; unsent output is dropped (Redis's CLIENT KILL). Idempotent.</summary>
    public void Close() => Close(CloseReason.Requested);

    /// <summary>From the session's thread: close once what was written so far is sent (QUIT, a protocol error).</summary>
    public void CloseAfterReply() => CloseAfterReplyRequested = true;

    /// <summary>
    /// Accounts <paramref name="bytes"/> of an out-of-band message the session has queued, from any thread, and asks
    /// for <see cref="IProtocolSession.WritePending"/> on the connection's thread. False when that put the connection
    /// over its output buffer limit: it is being closed, as Redis closes a subscriber that does not keep up.
    /// </summary>
    public bool TryQueueOutput(int bytes)
    {
        if (IsClosing) return false;
        long queued = Interlocked.Add(ref _queuedBytes, bytes);
        if (OverOutputLimit(queued + Volatile.Read(ref _unsentBytes)))
        {
            Close(CloseReason.OutputBufferLimit);
            return false;
        }
        RequestWrite();
        return true;
    }

    internal bool CloseAfterReplyRequested { get; private set; }

    internal void Close(CloseReason reason)
    {
        if (Interlocked.CompareExchange(ref _closeReason, (int)reason, 0) != 0) return;
        OnCloseRequested();
    }

    /// <summary>The transport's side of closing; <see cref="CloseReason"/> is already set, exactly once.</summary>
    private protected abstract void OnCloseRequested();

    /// <summary>Arranges for queued out-of-band messages to be written on the connection's thread.</summary>
    private protected abstract void RequestWrite();

    private protected void Touch() => Volatile.Write(ref _lastInteraction, Environment.TickCount64);

    /// <summary>After the session wrote queued messages (connection's thread).</summary>
    private protected void Dequeued(long bytes)
    {
        if (bytes != 0) Interlocked.Add(ref _queuedBytes, -bytes);
    }

    /// <summary>After output was written or sent (connection's thread): publishes the unsent count and applies the limit.</summary>
    private protected bool CheckOutputLimit()
    {
        long unsent = UnsentOutput;
        Volatile.Write(ref _unsentBytes, unsent);
        if (!OverOutputLimit(unsent + Volatile.Read(ref _queuedBytes))) return true;
        Close(CloseReason.OutputBufferLimit);
        return false;
    }

    /// <summary>Output written and not yet taken by the socket: the replies, and on TLS also the records sealed from them.</summary>
    private protected virtual long UnsentOutput => Output.Length;

    private bool OverOutputLimit(long pending)
    {
        if (pending > Volatile.Read(ref _peakPending)) Volatile.Write(ref _peakPending, pending);   // racy max: a hint, not a count
        var session = Session;
        if (session is null) return false;
        var limit = _limits.For(session.OutputClass);
        return !limit.IsNone && limit.IsExceeded(pending, Environment.TickCount64, ref _softLimitSince);
    }

    /// <summary>True when the idle timeout says this connection should go (called by the listener's clock).</summary>
    internal bool IsIdle(long now) =>
        _limits.IdleTimeout > TimeSpan.Zero && now - LastInteraction > (long)_limits.IdleTimeout.TotalMilliseconds
        && Session is not { ExemptFromIdleTimeout: true };

    /// <summary>True when a TLS handshake has taken longer than the limit allows (called by the listener's clock).</summary>
    internal virtual bool IsHandshakeOverdue(long now) => false;

    private static string Format(EndPoint? endPoint) => endPoint switch
    {
        IPEndPoint { AddressFamily: AddressFamily.InterNetworkV6 } ip when ip.Address.IsIPv4MappedToIPv6 => $"{ip.Address.MapToIPv4()}:{ip.Port}",
        IPEndPoint { AddressFamily: AddressFamily.InterNetworkV6 } ip => $"[{ip.Address}]:{ip.Port}",
        IPEndPoint ip => $"{ip.Address}:{ip.Port}",
        null => "?:0",
        _ => endPoint.ToString() ?? "?:0",
    };
}
