using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Pgrelay.Transport.Epoll;
using Pgrelay.Transport.Streams;

namespace Pgrelay.Transport;

/// <summary>
/// Accepts connections on one socket and keeps the books for them: the connection limit is taken before a session is
/// built, accept errors are sorted (transient, back off, stop), every open connection is known so a stop can close
/// the idle ones at once, and the idle and TLS handshake timeouts are applied from one clock. Connections are accepted
/// by an event loop itself (<see cref="EpollAcceptor"/>) and served by the loops, TLS ones too (their handshake and
/// records run on the loop); where there is no epoll they are accepted and run on .NET's asynchronous sockets and streams.
/// </summary>
public sealed class TransportListener : IAsyncDisposable
{
    private readonly ListenerOptions _options;
    private readonly ISessionFactory _sessions;
    private readonly ConnectionQuota _quota;
    private readonly EventLoopGroup? _loops;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<long, Connection> _connections = new();
    private readonly TaskCompletionSource _drained = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Socket? _listen;
    private EpollAcceptor? _acceptor;
    private IPEndPoint? _sharedLocal;
    private Task _acceptLoop = Task.CompletedTask;
    private Timer? _clock;
    private volatile bool _stopping;
    private long _accepted, _rejected;

    public TransportListener(ListenerOptions options, ISessionFactory sessions, ConnectionQuota quota, EventLoopGroup? loops, ILogger? logger = null)
    {
        _options = options;
        _sessions = sessions;
        _quota = quota;
        _loops = loops;
        _logger = logger ?? NullLogger.Instance;
    }

    /// <summary>Where it listens (the real port when 0 was asked for).</summary>
    public IPEndPoint LocalEndPoint => (IPEndPoint)(_listen?.LocalEndPoint ?? _options.EndPoint);

    public ListenerOptions Options => _options;
    public int ConnectionCount => _connections.Count;
    public long Accepted => Interlocked.Read(ref _accepted);
    public long Rejected => Interlocked.Read(ref _rejected);
    public IEnumerable<Connection> Connections => _connections.Values;

    /// <summary>Binds and starts accepting. Binding errors (address in use) are thrown here, before anything runs.</summary>
    public void Start()
    {
        var socket = new Socket(_options.EndPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (_options.EndPoint.AddressFamily == AddressFamily.InterNetworkV6) socket.DualMode = _options.EndPoint.Address.Equals(IPAddress.IPv6Any);
            socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            socket.Bind(_options.EndPoint);
            socket.Listen(_options.Backlog);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        _listen = socket;
        if (_loops is not null)
        {
            // Bound to one address, every connection's local end is that address: no getsockname per accept.
            var local = (IPEndPoint)socket.LocalEndPoint!;
            _sharedLocal = local.Address.Equals(IPAddress.Any) || local.Address.Equals(IPAddress.IPv6Any) ? null : local;
            socket.Blocking = false;
            _acceptor = new EpollAcceptor(_loops.Next(), (int)socket.Handle, this, _logger, _options.Name);
            _acceptor.Start();
        }
        else _acceptLoop = Task.Run(AcceptLoopAsync);
        if (_options.Limits.IdleTimeout > TimeSpan.Zero || (_loops is not null && _options.Tls is not null))
            _clock = new Timer(static s => ((TransportListener)s!).CloseIdle(), this, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));
    }

    private async Task AcceptLoopAsync()
    {
        var listen = _listen!;
        int backoffMs = 0;
        while (!_stopping)
        {
            Socket socket;
            try
            {
                socket = await listen.AcceptAsync();
                backoffMs = 0;
            }
            catch (Exception e)
            {
                if (_stopping) return;
                switch (AcceptErrors.Classify(e))
                {
                    case AcceptErrorKind.Stop:
                        return;
                    case AcceptErrorKind.Transient:
                        continue;
                    default:
                        // Out of descriptors or memory: say so once per episode and wait, rather than spin on accept().
                        if (backoffMs == 0) _logger.LogWarning("{Listener}: accept failed ({Message}); backing off", _options.Name, e.Message);
                        backoffMs = Math.Min(Math.Max(backoffMs * 2, 10), 1000);
                        await Task.Delay(backoffMs);
                        continue;
                }
            }
            Admit(socket);
        }
    }

    /// <summary>
    /// A socket an event loop accepted (on that loop's thread): the connection limit and the protocol's refusal come
    /// before anything is built; then the connection is dealt to a loop and registered there (at once when that is this loop).
    /// A TLS connection is refused, and gets its session, only once its handshake succeeded (<see cref="RefusalAfterHandshake"/>).
    /// </summary>
    internal void Admit(int fd, IPEndPoint? remote)
    {
        var tls = _options.Tls;
        Interlocked.Increment(ref _accepted);
        if (_stopping || !_quota.TryTake())
        {
            Interlocked.Increment(ref _rejected);
            if (!_stopping) _sessions.Rejected();
            Refuse(fd, _stopping ? default : _sessions.RejectionReply);
            return;
        }
        ReadOnlySpan<byte> refusal;
        try
        {
            refusal = tls is null ? _sessions.Refusal(remote) : default;
        }
        catch
        {
            _quota.Release();
            Native.close(fd);
            throw;
        }
        if (!refusal.IsEmpty)
        {
            Interlocked.Increment(ref _rejected);
            _quota.Release();
            Refuse(fd, refusal);
            return;
        }
        Native.SetNoDelay(fd);
        var loop = _loops!.Next();
        var connection = new EpollConnection(loop, fd, remote, _sharedLocal ?? SockAddr.Local(fd), this, _options.Limits, tls);
        _connections[connection.Id] = connection;
        try
        {
            if (tls is null) connection.Session = _sessions.Create(connection);
        }
        catch (Exception e)
        {
            _logger.LogWarning(e, "{Listener}: could not start a connection", _options.Name);
            if (_connections.TryRemove(connection.Id, out _)) _quota.Release();
            Native.close(fd);
            return;
        }
        connection.Start();
        if (_stopping) foreach (var c in _connections.Values) c.Close(CloseReason.ServerStopping);
    }

    /// <summary>The words for a refused socket, best effort and without waiting, then the close.</summary>
    private static void Refuse(int fd, ReadOnlySpan<byte> reply)
    {
        if (!reply.IsEmpty) Native.SendOnce(fd, reply);
        Native.close(fd);
    }

    private void Admit(Socket socket)
    {
        Interlocked.Increment(ref _accepted);
        if (_stopping || !_quota.TryTake())
        {
            Interlocked.Increment(ref _rejected);
            if (!_stopping) _sessions.Rejected();
            Refuse(socket, _stopping ? default : _sessions.RejectionReply);
            return;
        }
        // A plain connection is refused here, before anything is built for it; a TLS one after its handshake.
        if (_options.Tls is null && !AdmittedByProtocol(socket)) return;
        Connection? started = null;
        try
        {
            socket.NoDelay = true;
            var connection = new StreamConnection(socket, this, _options.Limits);
            started = connection;
            _connections[connection.Id] = connection;
            _ = connection.RunAsync(_options.Tls, _sessions, _logger);
        }
        catch (Exception e)
        {
            _logger.LogWarning(e, "{Listener}: could not start a connection", _options.Name);
            if (started is null || _connections.TryRemove(started.Id, out _)) _quota.Release();
            socket.Dispose();
        }
        if (_stopping) foreach (var c in _connections.Values) c.Close(CloseReason.ServerStopping);
    }

    /// <summary>False when the protocol refused <paramref name="socket"/>, which has then been told why and closed.</summary>
    private bool AdmittedByProtocol(Socket socket)
    {
        EndPoint? remote;
        try { remote = socket.RemoteEndPoint; }
        catch (SocketException) { remote = null; }   // already reset by the peer: the session's first read will see it
        var refusal = _sessions.Refusal(remote);
        if (refusal.IsEmpty) return true;
        Interlocked.Increment(ref _rejected);
        _quota.Release();
        Refuse(socket, refusal);
        return false;
    }

    /// <summary>Counts a refusal the protocol made after a TLS handshake (the connection closes through <see cref="Closed"/>).</summary>
    internal void RefusedAfterHandshake() => Interlocked.Increment(ref _rejected);

    /// <summary>An event loop's TLS connection finished its handshake: what the protocol refuses it with (counted), or empty.</summary>
    internal ReadOnlySpan<byte> RefusalAfterHandshake(Connection connection)
    {
        var refusal = _sessions.Refusal(connection.RemoteEndPoint);
        if (!refusal.IsEmpty) RefusedAfterHandshake();
        return refusal;
    }

    internal IProtocolSession CreateSession(Connection connection) => _sessions.Create(connection);

    /// <summary>The words a connection over the limit gets, best effort and without waiting, then the close.</summary>
    private static void Refuse(Socket socket, ReadOnlySpan<byte> reply)
    {
        try
        {
            socket.Blocking = false;
            if (!reply.IsEmpty) socket.Send(reply, SocketFlags.None, out _);
        }
        catch (Exception)
        {
        }
        socket.Dispose();
    }

    /// <summary>Every connection's end comes through here once, whichever pump ran it.</summary>
    internal void Closed(Connection connection)
    {
        if (!_connections.TryRemove(connection.Id, out _)) return;
        _quota.Release();
        if (connection.CloseReason == CloseReason.OutputBufferLimit)
            _logger.LogWarning("{Listener}: client {Address} closed for overcoming of output buffer limits", _options.Name, connection.RemoteAddress);
        else _logger.LogDebug("{Listener}: client {Address} closed ({Reason})", _options.Name, connection.RemoteAddress, connection.CloseReason);
        try
        {
            connection.Session?.Closed();
        }
        catch (Exception e)
        {
            _logger.LogError(e, "{Listener}: session cleanup for {Address} failed", _options.Name, connection.RemoteAddress);
        }
        SpikeRelief.After(connection);
        if (_stopping && _connections.IsEmpty) _drained.TrySetResult();
    }

    private void CloseIdle()
    {
        long now = Environment.TickCount64;
        foreach (var connection in _connections.Values)
            if (connection.IsIdle(now)) connection.Close(CloseReason.IdleTimeout);
            else if (connection.IsHandshakeOverdue(now)) connection.Close(CloseReason.TlsHandshake);
    }

    /// <summary>
    /// Stops accepting and ends every connection: requests already read are answered first (a loop finishes its batch
    /// before it sees the close), idle ones end at once. Waits for them until <paramref name="cancellationToken"/>.
    /// </summary>
    public async Task StopAsync(CancellationToken cancellationToken = default)
    {
        if (_stopping) return;
        _stopping = true;
        _clock?.Dispose();
        if (_acceptor is not null)
        {
            // The loop must stop watching the socket before it is closed (its number could be reused at once).
            try
            {
                await _acceptor.StopAsync().WaitAsync(TimeSpan.FromSeconds(10), cancellationToken);
            }
            catch (Exception e) when (e is TimeoutException or OperationCanceledException)
            {
                _logger.LogWarning("{Listener}: the event loop did not let go of the listening socket in time", _options.Name);
            }
        }
        _listen?.Dispose();
        await _acceptLoop;
        foreach (var connection in _connections.Values) connection.Close(CloseReason.ServerStopping);
        if (_connections.IsEmpty) _drained.TrySetResult();
        try
        {
            await _drained.Task.WaitAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
            _logger.LogWarning("{Listener}: {Count} connections still closing at shutdown", _options.Name, _connections.Count);
        }
    }

    public async ValueTask DisposeAsync()
    {
        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await StopAsync(bound.Token);
    }
}
