using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Pgrelay.Memcached.Tests;

/// <summary>A plain TCP client that reads replies exactly as framed by the protocol. Every read is bounded by a timeout.</summary>
public sealed class RawClient : IDisposable
{
    private readonly TcpClient _client;
    private readonly NetworkStream _stream;
    private readonly byte[] _buffer = new byte[64 * 1024];
    private int _start, _end;

    public RawClient(int port)
    {
        _client = new TcpClient { NoDelay = true, ReceiveTimeout = 10_000, SendTimeout = 10_000 };
        _client.Connect(IPAddress.Loopback, port);
        _stream = _client.GetStream();
    }

    public void Send(string text) => Send(Encoding.UTF8.GetBytes(text));

    public void Send(byte[] bytes)
    {
        _stream.Write(bytes);
        _stream.Flush();
    }

    /// <summary>One reply line without its CRLF; null when the server closed the connection.</summary>
    public string? ReadLine()
    {
        var line = new List<byte>();
        while (true)
        {
            if (_start == _end && !Fill()) return line.Count == 0 ? null : throw new IOException("connection closed mid-line: " + Encoding.UTF8.GetString(line.ToArray()));
            byte b = _buffer[_start++];
            if (b == '\n')
            {
                if (line.Count > 0 && line[^1] == '\r') line.RemoveAt(line.Count - 1);
                return Encoding.UTF8.GetString(line.ToArray());
            }
            line.Add(b);
        }
    }

    public string ReadBlock(int length)
    {
        var data = new byte[length + 2];
        for (int i = 0; i < data.Length; i++)
        {
            if (_start == _end && !Fill()) throw new IOException("connection closed inside a data block");
            data[i] = _buffer[_start++];
        }
        Assert.Equal((byte)'\r', data[^2]);
        Assert.Equal((byte)'\n', data[^1]);
        return Encoding.UTF8.GetString(data, 0, length);
    }

    /// <summary>Reads VALUE items up to END: key → (value, cas).</summary>
    public List<(string Key, string Value, ulong? Cas)> ReadValues()
    {
        var items = new List<(string, string, ulong?)>();
        while (true)
        {
            var line = ReadLine() ?? throw new IOException("closed before END");
            if (line == "END") return items;
            var parts = line.Split(' ');
            Assert.Equal("VALUE", parts[0]);
            Assert.Equal("0", parts[2]);
            var value = ReadBlock(int.Parse(parts[3]));
            items.Add((parts[1], value, parts.Length > 4 ? ulong.Parse(parts[4]) : null));
        }
    }

    /// <summary>Reads STAT lines up to END.</summary>
    public Dictionary<string, string> ReadStats()
    {
        var stats = new Dictionary<string, string>();
        while (true)
        {
            var line = ReadLine() ?? throw new IOException("closed before END");
            if (line == "END") return stats;
            var parts = line.Split(' ', 3);
            Assert.Equal("STAT", parts[0]);
            stats[parts[1]] = parts[2];
        }
    }

    /// <summary>Every byte the server sends until it closes the connection (a reset ends it too).</summary>
    public byte[] ReadToEnd()
    {
        var all = new List<byte>();
        try
        {
            while (true)
            {
                all.AddRange(_buffer.AsSpan(_start, _end - _start));
                _start = _end;
                if (!Fill()) break;
            }
        }
        catch (IOException e) when (e.InnerException is SocketException { SocketErrorCode: SocketError.ConnectionReset })
        {
        }
        return all.ToArray();
    }

    /// <summary>True when the server has closed the connection (reads end of stream).</summary>
    public bool IsClosedByServer()
    {
        try
        {
            while (true)
            {
                if (_start < _end) { _start = _end; continue; }
                if (!Fill()) return true;
            }
        }
        catch (IOException e) when (e.InnerException is SocketException { SocketErrorCode: SocketError.TimedOut })
        {
            return false;
        }
        catch (IOException)
        {
            return true;   // a reset counts as closed
        }
    }

    private bool Fill()
    {
        _start = 0;
        _end = _stream.Read(_buffer, 0, _buffer.Length);
        return _end > 0;
    }

    public void Dispose() => _client.Dispose();
}
