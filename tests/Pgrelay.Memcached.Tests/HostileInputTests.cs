using System.Net.Sockets;
using System.Text;
using Pgrelay.Transport;
using static Pgrelay.Memcached.Tests.TestData;

namespace Pgrelay.Memcached.Tests;

/// <summary>
/// Lines over the limit and the binary protocol, answered as memcached 1.6 answers them: the same bytes go to a real
/// memcached and to pgrelay, and everything each sends back before closing is compared byte for byte.
/// </summary>
public class HostileInputTests(MemcachedServerFixture server, RealMemcachedFixture memcached)
    : IClassFixture<MemcachedServerFixture>, IClassFixture<RealMemcachedFixture>
{
    private static byte[] Binary(byte opcode, string key = "", int extras = 0, int? bodyLength = null, byte magic = 0x80, uint opaque = 0x01020304)
    {
        var k = Encoding.ASCII.GetBytes(key);
        var packet = new byte[24 + extras + k.Length];
        packet[0] = magic;
        packet[1] = opcode;
        packet[2] = (byte)(k.Length >> 8);
        packet[3] = (byte)k.Length;
        packet[4] = (byte)extras;
        int body = bodyLength ?? extras + k.Length;
        packet[8] = (byte)(body >> 24);
        packet[9] = (byte)(body >> 16);
        packet[10] = (byte)(body >> 8);
        packet[11] = (byte)body;
        BitConverter.TryWriteBytes(packet.AsSpan(12), opaque);
        k.CopyTo(packet, 24 + extras);
        return packet;
    }

    private static readonly byte[] BinaryQuit = Binary(0x07);

    public static TheoryData<string, byte[]> Requests => new()
    {
        { "2048+ bytes and no newline", Encoding.ASCII.GetBytes(new string('x', 5000)) },
        { "a 20000-byte line: closed after the first 16 KiB", Encoding.ASCII.GetBytes(new string('x', 20000) + "\r\n") },
        { "a long line with its newline", Encoding.ASCII.GetBytes("verbosity " + new string('1', 3000) + "\r\nquit\r\n") },
        { "a long get line", Encoding.ASCII.GetBytes("get " + new string('k', 3000) + "\r\nquit\r\n") },
        { "a long multi-get line", Encoding.ASCII.GetBytes("get " + string.Join(' ', Enumerable.Repeat("k", 3000)) + "\r\nquit\r\n") },
        { "101 spaces before get", Encoding.ASCII.GetBytes(new string(' ', 101) + "get " + new string('k', 3000)) },
        { "binary NOOP", [.. Binary(0x0a), .. BinaryQuit] },
        { "binary GET miss", [.. Binary(0x00, "pub.cities.Nowhere/XX"), .. BinaryQuit] },
        { "binary GETK miss", [.. Binary(0x0c, "pub.cities.Nowhere/XX"), .. BinaryQuit] },
        { "binary GETQ miss then NOOP", [.. Binary(0x09, "nope"), .. Binary(0x0a), .. BinaryQuit] },
        { "binary unknown opcode", [.. Binary(0x55), .. BinaryQuit] },
        { "binary unknown opcode with a body", [.. Binary(0x55, bodyLength: 5), .. "hello"u8, .. BinaryQuit] },
        { "binary GET with extras", [.. Binary(0x00, "k", extras: 4), .. BinaryQuit] },
        { "binary key longer than the body", [.. Binary(0x00, "key", bodyLength: 1), .. BinaryQuit] },
        { "binary key over 250 bytes", [.. Binary(0x00, new string('k', 251)), .. BinaryQuit] },
        { "binary NOOP with a body", [.. Binary(0x0a, bodyLength: 2), 0, 0, .. BinaryQuit] },
        { "binary QUITQ", Binary(0x17) },
        { "binary, then a bad magic", [.. Binary(0x0a), .. "get x\r\n"u8] },
        { "binary header cut short", [0x80, 0x00, 0x00] },
    };

    [Theory]
    [MemberData(nameof(Requests))]
    public async Task Answered_as_memcached_answers(string what, byte[] request)
    {
        _ = what;
        Assert.Equal(await ExchangeAsync(memcached.Port, request), await ExchangeAsync(server.Port, request));
    }

    [Fact]
    public void Memccat_in_binary_mode_reads_rows()
    {
        var (exit, stdout, stderr) = ExternalProcess.Run("memccat", "libmemcached-tools", $"--servers=127.0.0.1:{server.Port}", "--binary", "pub.cities.Tulsa/OK", "pub.users.1");
        Assert.True(exit == 0, stderr);
        Assert.Equal([Tulsa, Ada], stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        (exit, stdout, _) = ExternalProcess.Run("memccat", "libmemcached-tools", $"--servers=127.0.0.1:{server.Port}", "--binary", "pub.cities.Nowhere/XX");
        Assert.NotEqual(0, exit);
        Assert.Equal("", stdout);
    }

    /// <summary>Sends everything, then reads until the server closes (hang guard 10 s; an open connection is "(open)").</summary>
    private static async Task<string> ExchangeAsync(int port, byte[] request)
    {
        using var tcp = new TcpClient { NoDelay = true };
        await tcp.ConnectAsync("127.0.0.1", port);
        var stream = tcp.GetStream();
        try
        {
            await stream.WriteAsync(request);
        }
        catch (IOException)
        {
        }
        var received = new MemoryStream();
        var buffer = new byte[65536];
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
            while (true)
            {
                int n = await stream.ReadAsync(buffer, cts.Token);
                if (n == 0) break;
                received.Write(buffer, 0, n);
            }
        }
        catch (IOException)
        {
        }
        catch (OperationCanceledException)
        {
            return Convert.ToHexString(received.ToArray()) + " (open)";
        }
        return Convert.ToHexString(received.ToArray());
    }
}
