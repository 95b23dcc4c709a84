using System.Buffers.Binary;
using System.Net;

namespace Pgrelay.Transport.Epoll;

/// <summary>
/// Reads the <c>sockaddr_in</c> / <c>sockaddr_in6</c> that accept4 and getsockname fill in, so an accepted connection's
/// addresses come with the accept itself rather than from a .NET <c>Socket</c> built around it.
/// </summary>
internal static class SockAddr
{
    /// <summary>The endpoint in <paramref name="address"/>, or null for a family a TCP listener does not produce.</summary>
    public static IPEndPoint? Parse(ReadOnlySpan<byte> address)
    {
        if (address.Length < 2) return null;
        ushort family = BitConverter.ToUInt16(address);   // host order, as the kernel writes it
        if (family == Native.AfInet && address.Length >= 8)
            return new IPEndPoint(new IPAddress(address.Slice(4, 4)), BinaryPrimitives.ReadUInt16BigEndian(address[2..]));
        if (family == Native.AfInet6 && address.Length >= Native.SockAddrSize)
            return new IPEndPoint(new IPAddress(address.Slice(8, 16), BitConverter.ToUInt32(address[24..])), BinaryPrimitives.ReadUInt16BigEndian(address[2..]));
        return null;
    }

    /// <summary>The local address of the connection <paramref name="fd"/> (getsockname), or null if it cannot be had.</summary>
    public static unsafe IPEndPoint? Local(int fd)
    {
        byte* buffer = stackalloc byte[Native.SockAddrSize];
        int length = Native.SockAddrSize;
        if (Native.getsockname(fd, buffer, &length) != 0) return null;
        return Parse(new ReadOnlySpan<byte>(buffer, Math.Min(length, Native.SockAddrSize)));
    }
}
