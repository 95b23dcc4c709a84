using System.Net.Sockets;
using System.Text;

namespace Pgrelay.Resp.Tests;

/// <summary>Raw bytes to a server and everything it answers until it closes: for byte-exact comparisons with redis-server.</summary>
public static class Wire
{
    /// <summary>
    /// Sends <paramref name="request"/> then QUIT (which ends a connection the request left open, and is ignored after
    /// a protocol error closed it), and returns every byte received until the server closed the connection. A request
    /// that does not end a line gets no QUIT: the bytes after it would decide where its unfinished line ends.
    /// </summary>
    public static async Task<string> ExchangeAsync(int port, byte[] request)
    {
        using var tcp = new TcpClient { NoDelay = true };
        await tcp.ConnectAsync("127.0.0.1", port);
        var stream = tcp.GetStream();
        try
        {
            await stream.WriteAsync(request);
            if (request.Length == 0 || request[^1] == '\n') await stream.WriteAsync("*1\r\n$4\r\nQUIT\r\n"u8.ToArray());
        }
        catch (IOException)
        {
            // Closed while we were still sending (a limit): what it said before is the answer.
        }
        return await ReadToEndAsync(stream);
    }

    /// <summary>Every byte until the server closes (hang guard: 30 s).</summary>
    public static async Task<string> ReadToEndAsync(NetworkStream stream)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var received = new MemoryStream();
        var buffer = new byte[65536];
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
            // Reset by the server (it closed with our bytes unread): as good as a close.
        }
        return Show(received.ToArray());
    }

    /// <summary>Bytes as text with control characters visible, so a failed comparison is readable.</summary>
    public static string Show(ReadOnlySpan<byte> bytes)
    {
        var text = new StringBuilder();
        foreach (byte b in bytes)
        {
            if (b == '\r') text.Append("\\r");
            else if (b == '\n') text.Append("\\n");
            else if (b is < 32 or >= 127) text.Append($"\\x{b:x2}");
            else text.Append((char)b);
        }
        return text.ToString();
    }
}
