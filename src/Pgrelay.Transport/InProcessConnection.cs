using System.Net;
using Pgrelay.Transport.Buffers;

namespace Pgrelay.Transport;

/// <summary>
/// A connection without a socket: bytes go in through <see cref="Receive"/> exactly as an event loop would hand them
/// to the session, and every byte the server would have sent is kept in <see cref="Output"/>. For tests (a request
/// split at every byte, allocation counts), fuzzing and byte-exact comparisons with redis-server replies.
/// </summary>
public sealed class InProcessConnection : Connection, IDisposable
{
    private readonly ReceiveBuffer _in = new();
    private int _writeRequested;
    private bool _closed;

    public InProcessConnection(ISessionFactory sessions, ConnectionLimits? limits = null)
        : base(limits ?? new ConnectionLimits(), new IPEndPoint(IPAddress.Loopback, 50000), new IPEndPoint(IPAddress.Loopback, 6379))
    {
        Session = sessions.Create(this);
    }

    public IProtocolSession ProtocolSession => Session!;

    public override int QueryBufferLength => _in.Length;

    /// <summary>True once the server side would have closed the socket (QUIT, protocol error, a limit).</summary>
    public bool IsClosed => _closed || IsClosing;

    /// <summary>Runs <paramref name="bytes"/> as one read, like the event loop: requests, queued messages, limits.</summary>
    public void Receive(ReadOnlySpan<byte> bytes)
    {
        if (IsClosed) return;
        _in.Append(bytes);
        int consumed;
        do
        {
            consumed = Session!.Consume(_in.Data, Output);
            _in.Consume(consumed);
        } while (consumed > 0 && _in.Length > 0 && !IsClosing && !CloseAfterReplyRequested);
        if (_in.Length > Limits.QueryBufferLimit) Close(CloseReason.QueryBufferLimit);
        WritePending();
        if (CloseAfterReplyRequested) Close(CloseReason.Requested);
        if (IsClosing) Finish();
    }

    /// <summary>Writes queued out-of-band messages, as the loop does when asked to.</summary>
    public void WritePending()
    {
        Interlocked.Exchange(ref _writeRequested, 0);
        if (_closed) return;
        Dequeued(Session!.WritePending(Output));
        CheckOutputLimit();
    }

    /// <summary>Everything written since the last <see cref="TakeOutput"/>, as one array.</summary>
    public byte[] TakeOutput()
    {
        var bytes = Output.Unsent.ToArray();
        Output.MarkSent(bytes.Length);
        return bytes;
    }

    /// <summary>Forgets what was written without copying it (allocation tests).</summary>
    public void DiscardOutput() => Output.MarkSent(Output.Length);

    public bool WriteRequested => Volatile.Read(ref _writeRequested) != 0;

    private protected override void RequestWrite() => Volatile.Write(ref _writeRequested, 1);

    private protected override void OnCloseRequested()
    {
    }

    /// <summary>Closes the connection (the session's cleanup runs, as when a client goes away).</summary>
    public void Dispose()
    {
        Close(CloseReason.ClientGone);
        Finish();
    }

    private void Finish()
    {
        if (_closed) return;
        _closed = true;
        _in.Release();
        Session!.Closed();
    }
}
