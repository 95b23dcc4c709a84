using System.Threading.Tasks.Sources;
using Pgrelay.Transport.Buffers;

namespace Pgrelay.Transport.Tls;

/// <summary>
/// The stream an <see cref="System.Net.Security.SslStream"/> on an event loop sits on, in memory: the loop puts the
/// ciphertext it received here (<see cref="Received"/>), and what the SslStream writes (handshake flights, records,
/// alerts) lands in <see cref="Sent"/> for the loop to send. Nothing here touches a socket or blocks.
/// <para>
/// A read with nothing buffered does not block and does not fail: it stays pending (this object is its
/// <see cref="IValueTaskSource{TResult}"/>) until the loop has received more, and then completes inline, on the
/// loop's thread, inside <see cref="Received"/>, so the SslStream's handshake or record work resumes right there,
/// as redis's loop calls SSL_read. Only the loop's thread may use it.
/// </para>
/// </summary>
internal sealed class CipherStream : Stream, IValueTaskSource<int>
{
    private readonly ReceiveBuffer _received = new();
    private ManualResetValueTaskSourceCore<int> _read;   // continuations run inline (RunContinuationsAsynchronously is false)
    private Memory<byte> _readTarget;
    private bool _reading, _ended;

    /// <summary>Ciphertext the SslStream wrote, not yet sent.</summary>
    public OutputBuffer Sent { get; } = new();

    /// <summary>Ciphertext received and not yet taken by the SslStream.</summary>
    public int Buffered => _received.Length;

    /// <summary>Where the loop's next receive goes (at least one byte).</summary>
    public Memory<byte> ReceiveSpace => _received.GetWritable(0);

    /// <summary>
    /// <paramref name="count"/> bytes were received into <see cref="ReceiveSpace"/>. A read the SslStream is waiting in
    /// completes now, and everything the SslStream does next until it waits again runs before this returns.
    /// </summary>
    public void Received(int count)
    {
        _received.Commit(count);
        if (!_reading) return;
        _reading = false;
        int n = Take(_readTarget.Span);
        _readTarget = default;
        _read.SetResult(n);
    }

    /// <summary>The connection is ending: a read still waiting fails (and the SslStream unwinds, inline), later ones see the end.</summary>
    public void End()
    {
        if (_ended) return;
        _ended = true;
        if (!_reading) return;
        _reading = false;
        _readTarget = default;
        _read.SetException(new IOException("the connection ended"));
    }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (_ended) return ValueTask.FromResult(0);
        // A zero-byte read (SslStream's "wait for data" before it rents its buffer) returns at once when anything is here.
        if (_received.Length > 0) return ValueTask.FromResult(Take(buffer.Span));
        if (_reading) throw new InvalidOperationException("one read at a time");
        _readTarget = buffer;
        _reading = true;
        _read.Reset();
        return new ValueTask<int>(this, _read.Version);
    }

    private int Take(Span<byte> target)
    {
        int n = Math.Min(target.Length, _received.Length);
        if (n == 0) return 0;
        _received.Data[..n].CopyTo(target);
        _received.Consume(n);
        return n;
    }

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        buffer.CopyTo(Sent.GetSpan(buffer.Length));
        Sent.Advance(buffer.Length);
    }

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        Write(buffer.Span);
        return ValueTask.CompletedTask;
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
    {
        Write(buffer.AsSpan(offset, count));
        return Task.CompletedTask;
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    // A synchronous read would have to block the loop: the SslStream here is only ever used asynchronously.
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override int Read(Span<byte> buffer) => throw new NotSupportedException();

    public override void Flush()
    {
    }

    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public override bool CanRead => true;
    public override bool CanWrite => true;
    public override bool CanSeek => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _received.Release();
            Sent.Discard();
        }
        base.Dispose(disposing);
    }

    int IValueTaskSource<int>.GetResult(short token) => _read.GetResult(token);
    ValueTaskSourceStatus IValueTaskSource<int>.GetStatus(short token) => _read.GetStatus(token);
    void IValueTaskSource<int>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _read.OnCompleted(continuation, state, token, flags);
}
