using System.Text;
using Pgrelay.Core.Status;
using Pgrelay.Resp.Server;
using Pgrelay.Transport;

namespace Pgrelay.Resp.Tests;

/// <summary>
/// However the network cuts a request, the replies are the same: every request of a corpus is fed in one piece, then
/// cut in two at every byte boundary, then one byte at a time, through the connection exactly as an event loop hands
/// bytes to the session, and the bytes sent back must be identical each time (and so must whether it closed).
/// </summary>
public sealed class SplitInputTests : IDisposable
{
    private readonly RespServer _server = new(TestServer.CreateStore(), new ReplicationStatus { SlotName = "split" }, new RespOptions());

    public void Dispose() => _server.Dispose();

    public static TheoryData<string> Corpus => new()
    {
        "*3\r\n$4\r\nHGET\r\n$11\r\npub.users.2\r\n$4\r\nname\r\n",
        "*2\r\n$7\r\nHGETALL\r\n$19\r\npub.cities.Tulsa/OK\r\n*2\r\n$7\r\nHGETALL\r\n$14\r\npub.users.4040\r\n",
        "*5\r\n$5\r\nHMGET\r\n$11\r\npub.users.1\r\n$4\r\nname\r\n$5\r\nemail\r\n$6\r\nnosuch\r\n",
        "HGET pub.users.1 name\r\nHGET \"pub.users.2\" 'email'\nPING\r\n\r\n\r\nECHO \"a\\x41\\tb\"\r\n",
        "*0\r\n*-1\r\n*1\r\n$4\r\nPING\r\n",
        "*1\r\n$5\r\nMULTI\r\n*2\r\n$6\r\nEXISTS\r\n$11\r\npub.users.1\r\n*3\r\n$4\r\nHGET\r\n$11\r\npub.users.2\r\n$4\r\nname\r\n*1\r\n$4\r\nEXEC\r\n",
        "*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n*2\r\n$7\r\nHGETALL\r\n$11\r\npub.users.2\r\n*2\r\n$4\r\nECHO\r\n$0\r\n\r\n",
        "*2\r\n$4\r\nECHO\r\n$5\r\nhello\r\n*1\r\n$4\r\nQUIT\r\n*1\r\n$4\r\nPING\r\n",
        "*2\r\n$4\r\nECHO\r\n$3\r\nabc\r\n*1\r\n$4\r\nPING\r\n*1\r\nxyz\r\n*1\r\n$4\r\nPING\r\n",
        "*1\r\n$4\r\nPING\r\n*abc\r\n",
        "*2\r\n$4\r\nECHO\r\n$2\r\nab\r\nECHO 'unterminated\r\nPING\r\n",
        "*1\r\n$7\r\nUNKNOWN\r\n*4\r\n$4\r\nHGET\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n",
        "*2\r\n$4\r\nECHO\r\n$" + 70_000 + "\r\n" + new string('x', 70_000) + "\r\n*1\r\n$4\r\nPING\r\n",
    };

    [Theory]
    [MemberData(nameof(Corpus))]
    public void Every_split_of_a_request_gets_the_same_replies(string request)
    {
        var bytes = Encoding.ASCII.GetBytes(request);
        var (expected, closed) = Feed([bytes]);
        Assert.NotEmpty(expected);
        // Every boundary for the small requests; for the large one every 997th and those near its lines.
        var cuts = bytes.Length <= 4096
            ? Enumerable.Range(1, bytes.Length - 1)
            : Enumerable.Range(1, 64).Concat(Enumerable.Range(1, bytes.Length - 1).Where(i => i % 997 == 0)).Concat(Enumerable.Range(bytes.Length - 64, 63));
        foreach (int cut in cuts)
        {
            var (reply, wasClosed) = Feed([bytes[..cut], bytes[cut..]]);
            Assert.True(expected == reply, $"cut at byte {cut}: {Wire.Show(Encoding.Latin1.GetBytes(reply))}\nexpected {Wire.Show(Encoding.Latin1.GetBytes(expected))}");
            Assert.Equal(closed, wasClosed);
        }
        if (bytes.Length <= 4096)
        {
            var (oneByOne, wasClosed) = Feed(bytes.Select(b => new[] { b }).ToArray());
            Assert.Equal(expected, oneByOne);
            Assert.Equal(closed, wasClosed);
        }
    }

    /// <summary>The same over a real socket and event loop: one byte per write, with Nagle off, so most arrive alone.</summary>
    [Fact]
    public async Task A_request_trickled_one_byte_per_segment_over_a_socket_gets_the_same_replies()
    {
        await using var server = await TestServer.StartAsync();
        var bytes = Encoding.ASCII.GetBytes("HGET pub.users.1 name\r\n*5\r\n$5\r\nHMGET\r\n$11\r\npub.users.2\r\n$4\r\nname\r\n$5\r\nemail\r\n$2\r\nno\r\n*1\r\n$4\r\nQUIT\r\n");
        string whole = await Wire.ExchangeAsync(server.Port, bytes);
        using var tcp = new System.Net.Sockets.TcpClient { NoDelay = true };
        await tcp.ConnectAsync("127.0.0.1", server.Port);
        var stream = tcp.GetStream();
        foreach (byte b in bytes) await stream.WriteAsync(new[] { b });
        Assert.Equal(whole, await Wire.ReadToEndAsync(stream));
        Assert.EndsWith("+OK\\r\\n", whole);
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
        // HELLO names the connection's id, which differs per connection: compare it as "id N".
        var text = System.Text.RegularExpressions.Regex.Replace(Encoding.Latin1.GetString(reply.ToArray()), "(\\$2\r\nid\r\n:)[0-9]+", "${1}N");
        return (text, connection.IsClosed);
    }
}
