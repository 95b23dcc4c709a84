using System.Text;
using Pgrelay.Memcached.Server;
using Pgrelay.Transport;

namespace Pgrelay.Memcached.Tests;

/// <summary>
/// However the network cuts a request, the replies are the same: each request of a corpus (text, meta, a storage
/// command's data block, binary packets) is fed whole, then cut in two at every byte, then one byte at a time,
/// through the connection exactly as an event loop hands bytes to the session.
/// </summary>
public class SplitInputTests
{
    private readonly MemcachedServer _server = new(TestData.NewStore(), new MemcachedOptions());

    private static byte[] Binary(byte opcode, string key) =>
        [0x80, opcode, 0, (byte)key.Length, 0, 0, 0, 0, 0, 0, 0, (byte)key.Length, 1, 2, 3, 4, 0, 0, 0, 0, 0, 0, 0, 0, .. Encoding.ASCII.GetBytes(key)];

    public static TheoryData<string, byte[]> Corpus => new()
    {
        { "get", "get pub.cities.Tulsa/OK\r\n"u8.ToArray() },
        { "gets, several keys", "gets pub.users.1 pub.cities.Nowhere/XX pub.users.2\r\nmn\r\n"u8.ToArray() },
        { "meta", "mg pub.users.1 k v c s t f O99\r\nmg nosuch v\r\nmn\r\n"u8.ToArray() },
        { "set with a data block, then get", "set k 0 0 10 noreply\r\n0123456789\r\nset k 0 0 3\r\nabc\r\nget pub.users.2\r\n"u8.ToArray() },
        { "errors", "bogus\r\n\r\nget\r\nincr k x\r\nversion\r\nquit\r\nmn\r\n"u8.ToArray() },
        { "binary", [.. Binary(0x00, "pub.users.1"), .. Binary(0x0d, "nosuch"), .. Binary(0x0c, "pub.cities.Tulsa/OK"), .. Binary(0x0a, "")] },
        { "binary write refused", [0x80, 0x01, 0, 1, 8, 0, 0, 0, 0, 0, 0, 12, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, (byte)'k', (byte)'v', (byte)'a', (byte)'l', .. Binary(0x0a, "")] },
    };

    [Theory]
    [MemberData(nameof(Corpus))]
    public void Every_split_of_a_request_gets_the_same_replies(string what, byte[] bytes)
    {
        _ = what;
        var (expected, closed) = Feed([bytes]);
        Assert.NotEmpty(expected);
        for (int cut = 1; cut < bytes.Length; cut++)
        {
            var (reply, wasClosed) = Feed([bytes[..cut], bytes[cut..]]);
            Assert.True(expected == reply, $"cut at byte {cut}: {reply}\nexpected {expected}");
            Assert.Equal(closed, wasClosed);
        }
        var (oneByOne, closedOneByOne) = Feed(bytes.Select(b => new[] { b }).ToArray());
        Assert.Equal(expected, oneByOne);
        Assert.Equal(closed, closedOneByOne);
    }

    private (string Reply, bool Closed) Feed(byte[][] pieces)
    {
        using var connection = new InProcessConnection(_server.Sessions);
        var reply = new MemoryStream();
        foreach (var piece in pieces)
        {
            connection.Receive(piece);
            reply.Write(connection.TakeOutput());
        }
        return (Encoding.Latin1.GetString(reply.ToArray()), connection.IsClosed);
    }
}
