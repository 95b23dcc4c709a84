using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;
using Pgrelay.Transport.Buffers;
using Pgrelay.Transport.Tls;

namespace Pgrelay.Transport.Streams;

/// <summary>
/// A connection pumped with .NET's asynchronous streams: TLS connections (an <see cref="SslStream"/> needs a stream),
/// and plain ones where there is no epoll. One reader task; the session and the output buffer are used only while
/// <see cref="_gate"/> is held, by the reader or by a write of queued messages, so replies and pushes never interleave.
/// </summary>
internal sealed class StreamConnection : Connection
{
    private readonly Socket _socket;
    private readonly TransportListener _owner;
    private readonly ReceiveBuffer _in = new();
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly CancellationTokenSource _closing = new();
    private Stream? _stream;
    private int _writeScheduled;

    public StreamConnection(Socket socket, TransportListener owner, ConnectionLimits limits)
        : base(limits, socket.RemoteEndPoint, socket.LocalEndPoint)
    {
        _socket = socket;
        _owner = owner;
    }

    public override int QueryBufferLength => _in.Length;

    public async Task RunAsync(TlsEndpointOptions? tls, ISessionFactory sessions, ILogger logger)
    {
        try
        {
            var network = new NetworkStream(_socket, ownsSocket: true);
            _stream = network;
            if (tls is not null)
            {
                var ssl = new SslStream(network, leaveInnerStreamOpen: false);
                _stream = ssl;
                using var handshake = CancellationTokenSource.CreateLinkedTokenSource(_closing.Token);
                handshake.CancelAfter(Limits.TlsHandshakeTimeout);
                try
                {
                    await ssl.AuthenticateAsServerAsync(tls.SelectOptions, null, handshake.Token);
                }
                catch (Exception e) when (e is AuthenticationException or IOException or OperationCanceledException)
                {
                    Close(CloseReason.TlsHandshake);
                    logger.LogDebug("TLS handshake with {Address} failed: {Message}", RemoteAddress, e.Message);
                    return;
                }
                IsSecure = true;
                ClientCertificate = ssl.RemoteCertificate as X509Certificate2;
            }
            if (sessions.Refusal(RemoteEndPoint).ToArray() is { Length: > 0 } refusal)
            {
                _owner.RefusedAfterHandshake();
                await _stream.WriteAsync(refusal, _closing.Token);
                await _stream.FlushAsync(_closing.Token);
                Close(CloseReason.Refused);
                return;
            }
            Session = sessions.Create(this);
            while (!IsClosing)
            {
                var memory = _in.GetWritable(Session.MissingBytes);
                int n = await _stream.ReadAsync(memory, _closing.Token);
                if (n == 0) break;
                Touch();
                await _gate.WaitAsync();
                try
                {
                    _in.Commit(n);
                    await ProcessAsync(Session);
                }
                finally
                {
                    _gate.Release();
                }
            }
        }
        catch (Exception e) when (IsDisconnect(e))
        {
        }
        catch (Exception e)
        {
            logger.LogError(e, "Connection {Address} failed; closing it", RemoteAddress);
            Close(CloseReason.Fault);
        }
        finally
        {
            Close(CloseReason.ClientGone);
            await _gate.WaitAsync();
            Output.Discard();
            _in.Release();
            _stream?.Dispose();
            _socket.Dispose();
            _owner.Closed(this);
        }
    }

    private async Task ProcessAsync(IProtocolSession session)
    {
        while (true)
        {
            int consumed = session.Consume(_in.Data, Output);
            _in.Consume(consumed);
            if (IsClosing || CloseAfterReplyRequested || consumed == 0 || _in.Length == 0) break;
            await FlushAsync();   // stopped at the flush threshold
        }
        if (_in.Length > Limits.QueryBufferLimit)
        {
            Close(CloseReason.QueryBufferLimit);
            return;
        }
        if (IsClosing) return;
        Dequeued(session.WritePending(Output));
        if (!CheckOutputLimit()) return;
        await FlushAsync();
        if (CloseAfterReplyRequested) Close(CloseReason.Requested);
    }

    private async ValueTask FlushAsync()
    {
        while (Output.Length > 0)
        {
            if (!CheckOutputLimit()) return;
            var unsent = Output.UnsentMemory;
            await _stream!.WriteAsync(unsent, _closing.Token);
            Output.MarkSent(unsent.Length);
            Touch();
        }
        Output.ReleaseIfEmpty();
        CheckOutputLimit();
    }

    private protected override void RequestWrite()
    {
        if (Interlocked.Exchange(ref _writeScheduled, 1) == 0)
            ThreadPool.UnsafeQueueUserWorkItem(static c => _ = c.WritePushesAsync(), this, preferLocal: false);
    }

    private async Task WritePushesAsync()
    {
        await _gate.WaitAsync();
        try
        {
            Volatile.Write(ref _writeScheduled, 0);
            if (IsClosing || Session is not { } session) return;
            Dequeued(session.WritePending(Output));
            await FlushAsync();
        }
        catch (Exception e) when (IsDisconnect(e))
        {
            Close(CloseReason.ClientGone);
        }
        finally
        {
            _gate.Release();
        }
    }

    private protected override void OnCloseRequested()
    {
        try
        {
            _closing.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }
        try
        {
            // Ends a pending read or write at once (a subscriber that stopped reading holds a write).
            _socket.Dispose();
        }
        catch (Exception)
        {
        }
    }

    internal static bool IsDisconnect(Exception e) => e is IOException or SocketException or ObjectDisposedException or OperationCanceledException;
}
