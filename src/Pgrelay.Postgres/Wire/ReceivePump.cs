namespace Pgrelay.Postgres.Wire;

/// <summary>
/// Reads a connection's stream on a thread of its own into a fixed set of segments and hands them, in order, to one
/// consumer thread: the network reads run while the consumer parses what came before, and the server keeps sending
/// instead of stalling on a full socket buffer.
/// <para>
/// Why a thread and not async reads: a COPY stream is one long burst, and a blocked thread costs nothing while it waits,
/// where async reads cost a state machine and a thread-pool hop per read. Why segments and not a byte ring: a segment is
/// whatever one <c>Read</c> returned (on loopback 16–128 KiB), so a hand-off costs one wake-up per read, not per message.
/// Memory is bounded: <see cref="SegmentCount"/> × <see cref="SegmentSize"/> per connection, allocated once.
/// </para>
/// <para>
/// The pump reads until the stream ends or fails; the owner stops it by closing the stream (which fails the pending
/// read). Nothing here interprets the bytes.
/// </para>
/// </summary>
internal sealed class ReceivePump : IDisposable
{
    public const int SegmentSize = 128 * 1024;
    public const int SegmentCount = 8;

    private readonly Stream _stream;
    private readonly byte[][] _segments = new byte[SegmentCount][];
    private readonly int[] _lengths = new int[SegmentCount];
    private readonly object _gate = new();
    private readonly Thread _thread;
    // Ring of segment indexes: [_head, _head + _filled) hold data for the consumer; the consumer holds _head while it reads it.
    private int _head, _filled;
    private bool _consumerHolds, _consumerWaiting, _producerWaiting, _ended, _stopping;
    private Exception? _failure;

    public ReceivePump(Stream stream, string name)
    {
        _stream = stream;
        for (int i = 0; i < SegmentCount; i++) _segments[i] = new byte[SegmentSize];
        _thread = new Thread(Run) { IsBackground = true, Name = name };
        _thread.Start();
    }

    /// <summary>
    /// The next run of received bytes (<paramref name="length"/> bytes from the start of the array), blocking until there
    /// is one; the consumer owns it until the next call. Throws <see cref="IOException"/> when the stream ended or failed.
    /// </summary>
    public byte[] Next(out int length)
    {
        lock (_gate)
        {
            if (_consumerHolds)
            {
                // Return the segment read so far to the pump.
                _consumerHolds = false;
                _head = (_head + 1) % SegmentCount;
                _filled--;
                if (_producerWaiting) Monitor.Pulse(_gate);
            }
            while (_filled == 0)
            {
                if (_ended)
                    throw _failure is null
                        ? new EndOfStreamException("the server closed the connection")
                        : new IOException($"reading from the server failed: {_failure.Message}", _failure);
                _consumerWaiting = true;
                Monitor.Wait(_gate);
                _consumerWaiting = false;
            }
            _consumerHolds = true;
            length = _lengths[_head];
            return _segments[_head];
        }
    }

    private void Run()
    {
        try
        {
            while (true)
            {
                int slot;
                lock (_gate)
                {
                    while (_filled == SegmentCount && !_stopping)
                    {
                        _producerWaiting = true;
                        Monitor.Wait(_gate);
                        _producerWaiting = false;
                    }
                    if (_stopping) return;
                    slot = (_head + _filled) % SegmentCount;
                }
                int read = _stream.Read(_segments[slot], 0, SegmentSize);
                lock (_gate)
                {
                    if (read == 0)
                    {
                        _ended = true;
                        Monitor.PulseAll(_gate);
                        return;
                    }
                    _lengths[slot] = read;
                    _filled++;
                    if (_consumerWaiting) Monitor.Pulse(_gate);
                }
            }
        }
        catch (Exception e)
        {
            // Closing the stream under the read is how the owner stops the pump; either way the consumer learns it ended.
            lock (_gate)
            {
                _ended = true;
                _failure = e;
                Monitor.PulseAll(_gate);
            }
        }
    }

    /// <summary>Stops the pump: the owner must close the stream first (or have seen it end), or the thread stays in its read.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            _stopping = true;
            Monitor.PulseAll(_gate);
        }
        // A hang guard: with the stream closed the read fails at once.
        _thread.Join(TimeSpan.FromSeconds(10));
    }
}
