using System.Net;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;

namespace Pgrelay.Transport.Epoll;

/// <summary>
/// A listening socket watched by one event loop, as Redis's ae loop watches its listener: when it is readable the loop
/// itself accepts (accept4, non-blocking, up to <see cref="MaxAcceptsPerCall"/> at a time) and hands each socket to
/// <see cref="TransportListener"/>, which registers it at once when it lands on this loop. No .NET <c>Socket</c>, no
/// thread-pool hop, no wake-up of the loop per connection: an accept costs the syscalls redis-server makes.
/// </summary>
internal sealed unsafe class EpollAcceptor : ILoopHandler
{
    /// <summary>As redis's MAX_ACCEPTS_PER_CALL: a connection storm cannot starve the connections already served.</summary>
    private const int MaxAcceptsPerCall = 1000;
    private const int PendingRegister = 1, PendingRearm = 2, PendingStop = 4;
    private const int ECONNABORTED = 103, EPROTO = 71, EPERM = 1, ENETDOWN = 100, ENOPROTOOPT = 92, EHOSTDOWN = 112, ENONET = 64,
        EHOSTUNREACH = 113, EOPNOTSUPP = 95, ENETUNREACH = 101, EBADF = 9, EINVAL = 22, ENOTSOCK = 88;

    private readonly EventLoop _loop;
    private readonly int _fd;
    private readonly TransportListener _owner;
    private readonly ILogger _logger;
    private readonly string _name;
    private readonly TaskCompletionSource _stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Timer? _backoffTimer;
    private PendingWork _pending;
    private int _backoffMs;
    private bool _registered, _done;
    private int _shutdownOnce;

    public EpollAcceptor(EventLoop loop, int fd, TransportListener owner, ILogger logger, string name)
    {
        _loop = loop;
        _fd = fd;
        _owner = owner;
        _logger = logger;
        _name = name;
    }

    public ulong EventData { get; private set; } = ulong.MaxValue - 1;

    internal EventLoop Loop => _loop;

    /// <summary>Starts watching the socket (any thread).</summary>
    public void Start() => Post(PendingRegister);

    /// <summary>Stops accepting; completes once the loop no longer watches the socket, so it may then be closed.</summary>
    public Task StopAsync()
    {
        Post(PendingStop);
        return _stopped.Task;
    }

    private void Post(int flag)
    {
        if (_pending.Add(flag)) _loop.Post(this);
    }

    public void OnPosted()
    {
        int pending = _pending.TakeAll();
        if (_done) return;
        if ((pending & PendingStop) != 0)
        {
            Shutdown();
            return;
        }
        if ((pending & PendingRegister) != 0)
        {
            EventData = _loop.Add(this, _fd);
            _registered = true;
        }
        if ((pending & PendingRearm) != 0 && _registered) Native.Control(_loop.Epoll, Native.EpollCtlMod, _fd, Native.EpollIn, EventData);
    }

    public void OnEvents(uint events)
    {
        byte* address = stackalloc byte[Native.SockAddrSize];
        for (int i = 0; i < MaxAcceptsPerCall && !_done; i++)
        {
            int length = Native.SockAddrSize;
            int fd = Native.accept4(_fd, address, &length, Native.NonBlock | Native.CloExec);
            if (fd >= 0)
            {
                _backoffMs = 0;
                var remote = SockAddr.Parse(new ReadOnlySpan<byte>(address, Math.Min(length, Native.SockAddrSize)));
                try
                {
                    _owner.Admit(fd, remote);
                }
                catch (Exception e)
                {
                    // A protocol's refusal check that throws must not end the loop; Admit has given back what it took.
                    _logger.LogError(e, "{Listener}: could not admit a connection", _name);
                }
                continue;
            }
            int errno = Marshal.GetLastPInvokeError();
            if (errno == Native.EAgain) return;
            switch (Classify(errno))
            {
                case AcceptErrorKind.Transient:
                    continue;
                case AcceptErrorKind.Stop:
                    _logger.LogError("{Listener}: accept failed (errno {Errno}); no longer accepting", _name, errno);
                    Shutdown();
                    return;
                default:
                    BackOff(errno);
                    return;
            }
        }
    }

    /// <summary>
    /// Out of descriptors or memory: the socket stays readable, so stop watching it for a while (log once per
    /// episode) rather than spin on accept.
    /// </summary>
    private void BackOff(int errno)
    {
        if (_backoffMs == 0) _logger.LogWarning("{Listener}: accept failed (errno {Errno}); backing off", _name, errno);
        _backoffMs = Math.Min(Math.Max(_backoffMs * 2, 10), 1000);
        Native.Control(_loop.Epoll, Native.EpollCtlMod, _fd, 0, EventData);
        _backoffTimer ??= new Timer(static s => ((EpollAcceptor)s!).Post(PendingRearm), this, Timeout.Infinite, Timeout.Infinite);
        _backoffTimer.Change(_backoffMs, Timeout.Infinite);
    }

    /// <summary>
    /// accept(2)'s errors: the client gone before it was accepted, a firewall's EPERM and the network errors Linux passes
    /// on from the new socket concern one client; a closed or broken listener ends accepting; anything else (out of
    /// descriptors or memory included) passes if we wait.
    /// </summary>
    internal static AcceptErrorKind Classify(int errno) => errno switch
    {
        ECONNABORTED or EPROTO or EPERM or Native.EIntr or ENETDOWN or ENOPROTOOPT or EHOSTDOWN or ENONET or EHOSTUNREACH or EOPNOTSUPP or ENETUNREACH
            => AcceptErrorKind.Transient,
        EBADF or EINVAL or ENOTSOCK => AcceptErrorKind.Stop,
        _ => AcceptErrorKind.BackOff,
    };

    public void Shutdown()
    {
        if (_done || Interlocked.Exchange(ref _shutdownOnce, 1) != 0) return;
        _done = true;
        if (_registered) _loop.Remove(_fd, EventData);
        _backoffTimer?.Dispose();
        _stopped.TrySetResult();
    }
}
