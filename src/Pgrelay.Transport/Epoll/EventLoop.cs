using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using Pgrelay.Transport.Buffers;

namespace Pgrelay.Transport.Epoll;

/// <summary>
/// One thread running Redis's ae loop over epoll: wait, then for each ready socket read once, run the requests and
/// write the replies, all on this thread. Level-triggered, so a socket is read once per wake-up (no read that only
/// returns EAGAIN) and one that cannot take its replies simply stops being asked for input until it can.
/// <para>
/// Other threads never touch a connection's buffers: they post the connection here (a write to do, a close) and
/// wake the loop through an eventfd, only when it is actually asleep in epoll_wait.
/// </para>
/// </summary>
internal sealed unsafe class EventLoop : IDisposable
{
    private const int MaxEvents = 256;
    private const ulong WakeData = ulong.MaxValue;

    private readonly int _epoll;
    private readonly int _wakeFd;
    private readonly Thread _thread;
    private readonly ILogger _logger;
    private readonly ConcurrentQueue<ILoopHandler> _posted = new();
    private ILoopHandler?[] _slots = new ILoopHandler?[64];
    private int[] _generations = new int[64];
    private readonly Stack<int> _freeSlots = new();
    private int _usedSlots;
    private int _sleeping;
    private int _wakePending;
    private volatile bool _stopping;
    private volatile bool _exited;

    public EventLoop(int index, ILogger logger)
    {
        _logger = logger;
        _epoll = Native.epoll_create1(Native.CloExec);
        if (_epoll < 0) throw new InvalidOperationException($"epoll_create1 failed (errno {Marshal.GetLastPInvokeError()})");
        _wakeFd = Native.eventfd(0, Native.CloExec | Native.NonBlock);
        if (_wakeFd < 0 || Native.Control(_epoll, Native.EpollCtlAdd, _wakeFd, Native.EpollIn, WakeData) != 0)
            throw new InvalidOperationException($"eventfd failed (errno {Marshal.GetLastPInvokeError()})");
        _thread = new Thread(Run) { IsBackground = true, Name = $"pgrelay-io-{index}" };
        _thread.Start();
    }

    /// <summary>The socket's first read lands here when the connection holds no partial request (no copy).</summary>
    internal byte[] ReadScratch { get; } = GC.AllocateUninitializedArray<byte>(ReceiveBuffer.ReadSize, pinned: true);

    /// <summary>Replies of a batch are written here and sent from here; a connection copies only what the socket refused.</summary>
    internal byte[] WriteScratch { get; } = GC.AllocateUninitializedArray<byte>(2 * ConnectionLimits.FlushThreshold, pinned: true);

    internal int Epoll => _epoll;
    internal ILogger Logger => _logger;
    internal bool IsLoopThread => Thread.CurrentThread == _thread;

    /// <summary>Asks the loop to look at <paramref name="connection"/> (its pending flags); from any thread.</summary>
    internal void Post(ILoopHandler connection)
    {
        _posted.Enqueue(connection);
        Interlocked.MemoryBarrier();
        if (_exited)
        {
            // The loop has ended (the process is stopping): nobody will look, so let go here.
            while (_posted.TryDequeue(out var late)) late.Shutdown();
            return;
        }
        if (Volatile.Read(ref _sleeping) == 1 && Interlocked.Exchange(ref _wakePending, 1) == 0)
        {
            ulong one = 1;
            Native.write(_wakeFd, (byte*)&one, 8);
        }
    }

    /// <summary>Adds a connection (or a listening socket) to epoll (loop thread); returns its event data (slot and generation).</summary>
    internal ulong Add(ILoopHandler connection, int fd)
    {
        int slot;
        if (_freeSlots.Count > 0) slot = _freeSlots.Pop();
        else
        {
            if (_usedSlots == _slots.Length)
            {
                Array.Resize(ref _slots, _slots.Length * 2);
                Array.Resize(ref _generations, _generations.Length * 2);
            }
            slot = _usedSlots++;
        }
        _slots[slot] = connection;
        ulong data = (ulong)(uint)slot | ((ulong)(uint)++_generations[slot] << 32);
        if (Native.Control(_epoll, Native.EpollCtlAdd, fd, Native.EpollIn, data) != 0)
        {
            _slots[slot] = null;
            _freeSlots.Push(slot);
            throw new IOException($"epoll_ctl ADD failed (errno {Marshal.GetLastPInvokeError()})");
        }
        return data;
    }

    /// <summary>Removes a connection (loop thread), before its socket is closed.</summary>
    internal void Remove(int fd, ulong data)
    {
        Native.Control(_epoll, Native.EpollCtlDel, fd, 0, 0);
        int slot = (int)(uint)data;
        if (_slots[slot] is null) return;
        _slots[slot] = null;
        _freeSlots.Push(slot);
    }

    private void Run()
    {
        byte* events = (byte*)NativeMemory.Alloc((nuint)(MaxEvents * Native.EventSize));
        try
        {
            while (true)
            {
                Volatile.Write(ref _sleeping, 1);
                Interlocked.MemoryBarrier();
                int timeout = _posted.IsEmpty && !_stopping ? 1000 : 0;
                int n = Native.epoll_wait(_epoll, events, MaxEvents, timeout);
                Volatile.Write(ref _sleeping, 0);
                if (n < 0)
                {
                    int errno = Marshal.GetLastPInvokeError();
                    if (errno == Native.EIntr) continue;
                    _logger.LogCritical("event loop {Thread}: epoll_wait failed (errno {Errno}); its connections are closed", _thread.Name, errno);
                    break;
                }
                for (int i = 0; i < n; i++)
                {
                    byte* ev = events + i * Native.EventSize;
                    uint flags = *(uint*)ev;
                    ulong data = *(ulong*)(ev + Native.EventDataOffset);
                    if (data == WakeData)
                    {
                        ulong count;
                        Native.read(_wakeFd, (byte*)&count, 8);
                        Volatile.Write(ref _wakePending, 0);
                        continue;
                    }
                    int slot = (int)(uint)data;
                    var connection = slot < _usedSlots ? _slots[slot] : null;
                    if (connection is null || connection.EventData != data) continue;   // closed earlier in this batch
                    connection.OnEvents(flags);
                }
                while (_posted.TryDequeue(out var connection)) connection.OnPosted();
                if (_stopping && _posted.IsEmpty) break;
            }
        }
        finally
        {
            _exited = true;
            Interlocked.MemoryBarrier();
            NativeMemory.Free(events);
            for (int slot = 0; slot < _usedSlots; slot++) _slots[slot]?.Shutdown();
            while (_posted.TryDequeue(out var connection)) connection.Shutdown();
        }
    }

    public void Dispose()
    {
        _stopping = true;
        ulong one = 1;
        Native.write(_wakeFd, (byte*)&one, 8);
        if (Thread.CurrentThread != _thread) _thread.Join(TimeSpan.FromSeconds(10));
        Native.close(_wakeFd);
        Native.close(_epoll);
    }
}
