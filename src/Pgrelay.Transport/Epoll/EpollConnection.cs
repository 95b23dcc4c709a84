using System.Net;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using Pgrelay.Transport.Buffers;
using Pgrelay.Transport.Tls;

namespace Pgrelay.Transport.Epoll;

/// <summary>
/// A TCP connection served by an <see cref="EventLoop"/>: everything below runs on the loop's thread, except
/// <see cref="Connection.TryQueueOutput"/> and closing, which only set flags and post the connection to its loop.
/// <para>
/// On a TLS listener a <see cref="TlsChannel"/> sits between the socket and the session, on the same thread: received
/// ciphertext goes to it and the session reads what it decrypts (the handshake first, then the session is built);
/// replies are sealed into records just before they are sent. The session sees plaintext exactly as on a plain
/// connection, under the same limits; only the bytes on the wire differ.
/// </para>
/// </summary>
internal sealed unsafe class EpollConnection : Connection, ILoopHandler
{
    private const int PendingRegister = 1, PendingWrite = 2, PendingClose = 4;

    private readonly EventLoop _loop;
    private readonly int _fd;
    private readonly TransportListener _owner;
    private readonly ReceiveBuffer _in = new();
    private readonly TlsEndpointOptions? _tlsOptions;
    private readonly TlsChannel? _tls;
    private readonly long _handshakeDeadline;
    private volatile bool _handshaking;
    private PendingWork _pending;
    private bool _registered, _closed, _writeBlocked;
    private int _closeOnce;

    /// <param name="fd">The accepted socket, non-blocking; the connection owns it and closes it.</param>
    /// <param name="tls">Null: plain; else the handshake starts once the loop has the connection, and the session is
    /// built when it succeeds.</param>
    public EpollConnection(EventLoop loop, int fd, EndPoint? remote, EndPoint? local, TransportListener owner, ConnectionLimits limits,
        TlsEndpointOptions? tls = null)
        : base(limits, remote, local)
    {
        _loop = loop;
        _fd = fd;
        _owner = owner;
        if (tls is null) return;
        _tlsOptions = tls;
        _tls = new TlsChannel(loop.ReadScratch);
        _handshaking = true;
        _handshakeDeadline = Environment.TickCount64 + (long)limits.TlsHandshakeTimeout.TotalMilliseconds;
    }

    /// <summary>epoll's data word for this connection: slot and generation, so a stale event for a reused slot is ignored.</summary>
    public ulong EventData { get; private set; } = ulong.MaxValue - 1;

    public override int QueryBufferLength => _in.Length;

    /// <summary>Hands the connection to its loop: at once on the loop's own thread (it accepted it), else posted.</summary>
    internal void Start()
    {
        if (!_loop.IsLoopThread) Post(PendingRegister);
        else
        {
            try
            {
                Register();
            }
            catch (Exception e)
            {
                Fault(e);
            }
        }
    }

    private void Register()
    {
        EventData = _loop.Add(this, _fd);
        _registered = true;
        if (_tls is null) return;
        _tls.BeginHandshake(_tlsOptions!);
        if (_tls.HandshakeEnded(out _)) PumpTls();   // failed before the client said anything (the options threw)
    }

    /// <summary>What goes to the socket: the replies themselves, or on TLS the records sealed from them.</summary>
    private OutputBuffer Wire => _tls?.Sent ?? Output;

    private protected override long UnsentOutput => Output.Length + (_tls?.Sent.Length ?? 0);

    internal override bool IsHandshakeOverdue(long now) => _handshaking && now > _handshakeDeadline;

    private protected override void RequestWrite() => Post(PendingWrite);

    private protected override void OnCloseRequested() => Post(PendingClose);

    private void Post(int flag)
    {
        if (_pending.Add(flag)) _loop.Post(this);
    }

    // ---------------- loop thread ----------------

    public void OnPosted()
    {
        int pending = _pending.TakeAll();
        if (_closed) return;
        try
        {
            if ((pending & PendingRegister) != 0) Register();
            if (IsClosing)
            {
                // A session's own request (QUIT) ends after its reply; every other close drops what is unsent.
                if (CloseReason is CloseReason.Requested or CloseReason.ServerStopping && !_writeBlocked) FlushOnce();
                CloseNow(CloseReason.Requested);
                return;
            }
            if ((pending & PendingWrite) != 0) WritePushes();
        }
        catch (Exception e)
        {
            Fault(e);
        }
    }

    public void OnEvents(uint events)
    {
        try
        {
            if (_writeBlocked)
            {
                if ((events & (Native.EpollOut | Native.EpollHup | Native.EpollErr)) != 0)
                {
                    if (!Flush())
                    {
                        if (_closed) return;
                        if ((events & (Native.EpollHup | Native.EpollErr)) != 0)
                        {
                            CloseNow(CloseReason.ClientGone);
                            return;
                        }
                    }
                    else if (_in.Length > 0 || _tls is not null)
                    {
                        Resume();
                        return;
                    }
                }
                // Blocked and still reading only when an output limit will decide (see Flush).
                if (_closed || !_writeBlocked || (events & Native.EpollIn) == 0 || !ReadsWhileBlocked) return;
            }
            if ((events & (Native.EpollIn | Native.EpollHup | Native.EpollErr)) != 0) Read();
        }
        catch (Exception e)
        {
            Fault(e);
        }
    }

    private void Read()
    {
        if (_tls is not null)
        {
            ReadTls();
            return;
        }
        bool fromScratch = _in.Length == 0;
        int n = Receive(fromScratch ? _loop.ReadScratch : _in.GetWritable(Session!.MissingBytes).Span);
        if (n == 0) return;
        if (fromScratch) Process(_loop.ReadScratch.AsSpan(0, n), fromScratch: true);
        else
        {
            _in.Commit(n);
            Process(_in.Data, fromScratch: false);
        }
    }

    /// <summary>After the socket drained: the requests held back, then (TLS) what the channel holds decrypted or not.</summary>
    private void Resume()
    {
        if (_in.Length > 0) Process(_in.Data, fromScratch: false);
        if (_tls is not null && !_closed) PumpTls();
    }

    private void ReadTls()
    {
        var tls = _tls!;
        int n = Receive(tls.ReceiveSpace.Span);
        if (n == 0) return;
        tls.Received(n);   // the handshake or a waiting read goes on here, inline
        PumpTls();
    }

    /// <summary>One recv into <paramref name="target"/>: the byte count, or 0 when nothing is there yet or the connection closed.</summary>
    private int Receive(Span<byte> target)
    {
        nint n;
        fixed (byte* p = target)
        {
            do n = Native.recv(_fd, p, target.Length, Native.MsgDontWait);
            while (n < 0 && Marshal.GetLastPInvokeError() == Native.EIntr);
        }
        if (n > 0)
        {
            Touch();
            return (int)n;
        }
        int errno = n < 0 ? Marshal.GetLastPInvokeError() : 0;
        if (errno == Native.EAgain) return 0;
        _loop.Logger.LogDebug("recv from {Address}: {Result} (errno {Errno})", RemoteAddress, n, errno);
        CloseNow(CloseReason.ClientGone);
        return 0;
    }

    /// <summary>
    /// Moves the TLS channel on: finishes the handshake (then builds the session), and runs what it decrypts through
    /// <see cref="Process"/> until it waits for more ciphertext, the socket is full, or the connection ends. Plaintext
    /// lands in the loop's read buffer, as a plain connection's first read does.
    /// </summary>
    private void PumpTls()
    {
        var tls = _tls!;
        if (_handshaking && !FinishHandshake(tls)) return;
        while (!_closed && !IsClosing && (!_writeBlocked || ReadsWhileBlocked))
        {
            int n;
            try
            {
                if (!tls.TryRead(out n)) break;
            }
            catch (IOException e)
            {
                _loop.Logger.LogDebug("TLS from {Address}: {Message}", RemoteAddress, e.Message);
                CloseNow(CloseReason.ClientGone);
                return;
            }
            if (n == 0)
            {
                CloseNow(CloseReason.ClientGone);   // close_notify
                return;
            }
            var plain = _loop.ReadScratch.AsSpan(0, n);
            if (_in.Length == 0) Process(plain, fromScratch: true);
            else
            {
                _in.Append(plain);
                Process(_in.Data, fromScratch: false);
            }
        }
        if (_closed) return;
        if (tls.Buffered > Limits.QueryBufferLimit)
        {
            CloseNow(CloseReason.QueryBufferLimit);
            return;
        }
        // What the SslStream wrote by itself (a renegotiation's flight) goes out too.
        if (!_writeBlocked && tls.Sent.Length > 0) Flush();
    }

    /// <summary>False until the handshake has succeeded and the session is built; a failed or refused one closes.</summary>
    private bool FinishHandshake(TlsChannel tls)
    {
        if (!tls.HandshakeEnded(out var failure))
        {
            if (!_writeBlocked && tls.Sent.Length > 0) Flush();   // the server's flight
            return false;
        }
        _handshaking = false;
        if (failure is not null)
        {
            _loop.Logger.LogDebug("TLS handshake with {Address} failed: {Message}", RemoteAddress, failure.Message);
            FlushOnce();   // the alert saying why, if the SslStream wrote one
            CloseNow(CloseReason.TlsHandshake);
            return false;
        }
        IsSecure = true;
        ClientCertificate = tls.RemoteCertificate;
        var refusal = _owner.RefusalAfterHandshake(this);
        if (!refusal.IsEmpty)
        {
            refusal.CopyTo(Output.GetSpan(refusal.Length));
            Output.Advance(refusal.Length);
            FlushOnce();
            CloseNow(CloseReason.Refused);
            return false;
        }
        Session = _owner.CreateSession(this);
        return true;
    }

    /// <summary>Runs what <paramref name="input"/> holds, sends the replies, keeps an unfinished request.</summary>
    private void Process(ReadOnlySpan<byte> input, bool fromScratch)
    {
        var session = Session!;
        Output.Borrow(_loop.WriteScratch);
        int done = 0;
        while (true)
        {
            int consumed = session.Consume(input[done..], Output);
            done += consumed;
            if (IsClosing || CloseAfterReplyRequested || consumed == 0 || done == input.Length) break;
            if (Flush()) continue;   // stopped at the flush threshold, and the socket took it all
            if (_closed) return;
            if (!ReadsWhileBlocked) break;   // the socket is full: go on once it drains
            if (!CheckOutputLimit())
            {
                CloseNow(CloseReason.OutputBufferLimit);
                return;
            }
        }
        if (_closed) return;
        if (fromScratch)
        {
            if (done < input.Length) _in.Append(input[done..]);
        }
        else _in.Consume(done);

        if (_in.Length > Limits.QueryBufferLimit)
        {
            _loop.Logger.LogWarning("Closing client {Address} that reached max query buffer length ({Bytes} bytes)", RemoteAddress, _in.Length);
            Output.KeepUnsent();
            CloseNow(CloseReason.QueryBufferLimit);
            return;
        }
        if (IsClosing && !CloseAfterReplyRequested)
        {
            Output.KeepUnsent();
            CloseNow(CloseReason.Requested);
            return;
        }
        if (!_writeBlocked) Flush();
        else
        {
            Output.KeepUnsent();
            if (!CheckOutputLimit()) CloseNow(CloseReason.OutputBufferLimit);
        }
    }

    private void WritePushes()
    {
        Output.Borrow(_loop.WriteScratch);
        Dequeued(Session!.WritePending(Output));
        if (_writeBlocked)
        {
            Output.KeepUnsent();
            if (!CheckOutputLimit()) CloseNow(CloseReason.OutputBufferLimit);
        }
        else Flush();
    }

    /// <summary>
    /// Whether to go on reading requests while replies cannot be sent. With no output limit for the client's class
    /// (Redis's default for normal clients), no: the client is held back, and what the server keeps for it stays at
    /// about one batch. With a limit, yes, as Redis does: replies pile up and the limit decides, byte for byte as in
    /// redis-server.
    /// </summary>
    private bool ReadsWhileBlocked => Session is { } session && !Limits.For(session.OutputClass).IsNone;

    /// <summary>
    /// Sends what is written. True: all of it went. False: the socket is full (reading pauses until it drains, the
    /// rest is kept) or the connection closed.
    /// </summary>
    private bool Flush()
    {
        if (_tls is not null) Seal();
        var wire = Wire;
        while (wire.Length > 0)
        {
            var unsent = wire.Unsent;
            nint n;
            fixed (byte* p = unsent) n = Native.send(_fd, p, unsent.Length, Native.MsgDontWait | Native.MsgNoSignal);
            if (n > 0)
            {
                wire.MarkSent((int)n);
                continue;
            }
            int errno = Marshal.GetLastPInvokeError();
            if (n < 0 && errno == Native.EIntr) continue;
            if (n < 0 && errno == Native.EAgain)
            {
                wire.KeepUnsent();
                if (!_writeBlocked)
                {
                    _writeBlocked = true;
                    Native.Control(_loop.Epoll, Native.EpollCtlMod, _fd, ReadsWhileBlocked ? Native.EpollIn | Native.EpollOut : Native.EpollOut, EventData);
                }
                if (!CheckOutputLimit())
                {
                    CloseNow(CloseReason.OutputBufferLimit);
                    return false;
                }
                return false;
            }
            _loop.Logger.LogDebug("send to {Address}: {Result} (errno {Errno})", RemoteAddress, n, errno);
            CloseNow(CloseReason.ClientGone);
            return false;
        }
        Touch();
        wire.ReleaseIfEmpty();
        CheckOutputLimit();
        if (_writeBlocked)
        {
            _writeBlocked = false;
            Native.Control(_loop.Epoll, Native.EpollCtlMod, _fd, Native.EpollIn, EventData);
        }
        if (CloseAfterReplyRequested)
        {
            CloseNow(CloseReason.Requested);
            return false;
        }
        return true;
    }

    /// <summary>Encrypts the replies written so far into records (the borrowed buffer is free again after).</summary>
    private void Seal()
    {
        if (_handshaking || Output.Length == 0) return;
        _tls!.Seal(Output);
        Output.ReleaseIfEmpty();
    }

    /// <summary>One last attempt to send, without waiting (a connection closing on request).</summary>
    private void FlushOnce()
    {
        if (_tls is not null) Seal();
        var unsent = Wire.Unsent;
        if (unsent.IsEmpty) return;
        fixed (byte* p = unsent) Native.send(_fd, p, unsent.Length, Native.MsgDontWait | Native.MsgNoSignal);
    }

    private void Fault(Exception e)
    {
        _loop.Logger.LogError(e, "Connection {Address} failed; closing it", RemoteAddress);
        Output.KeepUnsent();
        CloseNow(CloseReason.Fault);
    }

    public void Shutdown() => CloseNow(CloseReason.ServerStopping);

    /// <summary>Closes at once (loop thread, or the loop's own shutdown). Idempotent.</summary>
    internal void CloseNow(CloseReason reason)
    {
        // Once only, even if a post after the loop ended races the loop's own shutdown (the fd must be closed once).
        if (_closed || Interlocked.Exchange(ref _closeOnce, 1) != 0) return;
        _closed = true;
        Close(reason);
        if (_registered) _loop.Remove(_fd, EventData);
        _handshaking = false;
        _tls?.Dispose();
        Output.Discard();
        _in.Release();
        Native.close(_fd);   // after epoll forgot it: the number may be reused by the next accept at once
        _owner.Closed(this);
    }
}
