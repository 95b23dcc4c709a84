using System.Runtime.InteropServices;

namespace Pgrelay.Transport.Epoll;

/// <summary>The few Linux calls an event loop needs: epoll, an eventfd to wake it, accept4, and non-blocking recv/send.</summary>
internal static unsafe partial class Native
{
    public const int EpollCtlAdd = 1, EpollCtlDel = 2, EpollCtlMod = 3;
    public const uint EpollIn = 0x001, EpollOut = 0x004, EpollErr = 0x008, EpollHup = 0x010;
    public const int CloExec = 0x80000, NonBlock = 0x800;
    public const int MsgDontWait = 0x40, MsgNoSignal = 0x4000;
    public const int EAgain = 11, EIntr = 4;
    public const int IpProtoTcp = 6, TcpNoDelay = 1;
    public const ushort AfInet = 2, AfInet6 = 10;

    /// <summary>Room for a <c>sockaddr_in6</c> (28 bytes), the largest address a TCP listener accepts.</summary>
    public const int SockAddrSize = 28;

    /// <summary>
    /// <c>struct epoll_event</c> is packed on x86-64 (12 bytes, data at 4) and naturally aligned elsewhere (16 bytes,
    /// data at 8); events are read and written through these two numbers.
    /// </summary>
    public static readonly int EventSize = RuntimeInformation.ProcessArchitecture is Architecture.X64 or Architecture.X86 ? 12 : 16;
    public static readonly int EventDataOffset = EventSize == 12 ? 4 : 8;

    public static bool IsSupported => OperatingSystem.IsLinux();

    [LibraryImport("libc", SetLastError = true)]
    public static partial int epoll_create1(int flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int epoll_ctl(int epfd, int op, int fd, byte* ev);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int epoll_wait(int epfd, byte* events, int maxevents, int timeout);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int eventfd(uint initval, int flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int accept4(int fd, byte* addr, int* addrlen, int flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int setsockopt(int fd, int level, int name, void* value, int length);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int getsockname(int fd, byte* addr, int* addrlen);

    [LibraryImport("libc", SetLastError = true)]
    public static partial nint recv(int fd, byte* buf, nint len, int flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial nint send(int fd, byte* buf, nint len, int flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial nint read(int fd, byte* buf, nint count);

    [LibraryImport("libc", SetLastError = true)]
    public static partial nint write(int fd, byte* buf, nint count);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int close(int fd);

    public const int ProtRead = 1, ProtWrite = 2, MapPrivate = 2, MapAnonymous = 0x20;

    [LibraryImport("libc", SetLastError = true)]
    public static partial void* mmap(void* addr, nuint length, int prot, int flags, int fd, nint offset);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int munmap(void* addr, nuint length);

    /// <summary>Replies go out as they are written (Nagle off), as redis-server and memcached set their sockets.</summary>
    public static void SetNoDelay(int fd)
    {
        int one = 1;
        setsockopt(fd, IpProtoTcp, TcpNoDelay, &one, sizeof(int));
    }

    /// <summary>One non-blocking send; what the socket does not take is dropped (a refusal's words before the close).</summary>
    public static void SendOnce(int fd, ReadOnlySpan<byte> bytes)
    {
        fixed (byte* p = bytes) send(fd, p, bytes.Length, MsgDontWait | MsgNoSignal);
    }

    public static int Control(int epoll, int op, int fd, uint events, ulong data)
    {
        byte* ev = stackalloc byte[16];
        *(uint*)ev = events;
        *(ulong*)(ev + EventDataOffset) = data;
        return epoll_ctl(epoll, op, fd, ev);
    }
}
