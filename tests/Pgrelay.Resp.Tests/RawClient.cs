using System.Net.Sockets;
using System.Text;

namespace Pgrelay.Resp.Tests;

public sealed record RespError(string Message);
public sealed record RespSimple(string Text);
public sealed record RespPush(object?[] Items)
{
    public bool Equals(RespPush? other) => other is not null && DeepEqual(Items, other.Items);
    public override int GetHashCode() => Items.Length;
    public override string ToString() => "push " + Show(Items);

    public static bool DeepEqual(object? a, object? b) => (a, b) switch
    {
        (object?[] x, object?[] y) => x.Length == y.Length && x.Zip(y).All(p => DeepEqual(p.First, p.Second)),
        _ => Equals(a, b),
    };

    private static string Show(object? value) => value is object?[] items ? "[" + string.Join(", ", items.Select(Show)) + "]" : value?.ToString() ?? "nil";
}
public sealed record RespMap(List<KeyValuePair<object?, object?>> Entries)
{
    public object? this[string key] => Entries.FirstOrDefault(e => Equals(e.Key, key)).Value;
}

/// <summary>A byte-level RESP client: sends exactly what a test says and parses replies into plain objects.</summary>
public sealed class RawClient : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(15);
    private readonly TcpClient _tcp;
    private readonly NetworkStream _stream;
    private readonly byte[] _buffer = new byte[65536];
    private int _start, _end;

    private RawClient(TcpClient tcp)
    {
        _tcp = tcp;
        _stream = tcp.GetStream();
    }

    public static Task<RawClient> ConnectAsync(int port) => ConnectAsync("127.0.0.1", port);

    public static async Task<RawClient> ConnectAsync(string host, int port)
    {
        var tcp = new TcpClient();
        await tcp.ConnectAsync(host, port);
        return new RawClient(tcp);
    }

    public Task SendRawAsync(string text) => SendRawAsync(Encoding.UTF8.GetBytes(text));

    public async Task SendRawAsync(byte[] bytes) => await _stream.WriteAsync(bytes);

    public async Task SendRawAsync(ReadOnlyMemory<byte> bytes) => await _stream.WriteAsync(bytes);

    public Task SendAsync(params string[] args)
    {
        var text = new StringBuilder().Append('*').Append(args.Length).Append("\r\n");
        foreach (var a in args) text.Append('$').Append(Encoding.UTF8.GetByteCount(a)).Append("\r\n").Append(a).Append("\r\n");
        return SendRawAsync(text.ToString());
    }

    public async Task<object?> CommandAsync(params string[] args)
    {
        await SendAsync(args);
        return await ReadAsync();
    }

    /// <summary>Reads one complete reply (or push).</summary>
    public async Task<object?> ReadAsync()
    {
        using var cts = new CancellationTokenSource(Timeout);
        return await ReadValueAsync(cts.Token);
    }

    /// <summary>True when the server closed the connection (after any pending bytes, which are skipped).</summary>
    public async Task<bool> IsClosedAsync()
    {
        using var cts = new CancellationTokenSource(Timeout);
        try
        {
            while (true)
            {
                int n = await _stream.ReadAsync(_buffer, cts.Token);
                if (n == 0) return true;
            }
        }
        catch (IOException) { return true; }
        catch (OperationCanceledException) { return false; }
    }

    private async Task<object?> ReadValueAsync(CancellationToken ct)
    {
        var line = await ReadLineAsync(ct);
        char type = line[0];
        var rest = line[1..];
        switch (type)
        {
            case '+': return new RespSimple(rest);
            case '-': return new RespError(rest);
            case ':': return long.Parse(rest);
            case '_': return null;
            case ',': return double.Parse(rest, System.Globalization.CultureInfo.InvariantCulture);
            case '#': return rest == "t";
            case '$':
            case '=':
            {
                int length = int.Parse(rest);
                if (length < 0) return null;
                var bytes = await ReadBytesAsync(length + 2, ct);
                return Encoding.UTF8.GetString(bytes, 0, length);
            }
            case '*':
            case '~':
            case '>':
            {
                int count = int.Parse(rest);
                if (count < 0) return null;
                var items = new object?[count];
                for (int i = 0; i < count; i++) items[i] = await ReadValueAsync(ct);
                return type == '>' ? new RespPush(items) : items;
            }
            case '%':
            {
                int count = int.Parse(rest);
                var entries = new List<KeyValuePair<object?, object?>>();
                for (int i = 0; i < count; i++) entries.Add(new(await ReadValueAsync(ct), await ReadValueAsync(ct)));
                return new RespMap(entries);
            }
            default: throw new InvalidDataException($"unexpected RESP type '{type}' in line {line}");
        }
    }

    private async Task<string> ReadLineAsync(CancellationToken ct)
    {
        while (true)
        {
            int index = Array.IndexOf(_buffer, (byte)'\n', _start, _end - _start);
            if (index > _start && _buffer[index - 1] == '\r')
            {
                var line = Encoding.UTF8.GetString(_buffer, _start, index - 1 - _start);
                _start = index + 1;
                return line;
            }
            await FillAsync(ct);
        }
    }

    private async Task<byte[]> ReadBytesAsync(int count, CancellationToken ct)
    {
        var result = new byte[count];
        int copied = 0;
        while (copied < count)
        {
            if (_start == _end) await FillAsync(ct);
            int n = Math.Min(count - copied, _end - _start);
            Array.Copy(_buffer, _start, result, copied, n);
            _start += n;
            copied += n;
        }
        return result;
    }

    private async Task FillAsync(CancellationToken ct)
    {
        if (_start > 0)
        {
            Array.Copy(_buffer, _start, _buffer, 0, _end - _start);
            _end -= _start;
            _start = 0;
        }
        if (_end == _buffer.Length) throw new InvalidDataException("reply line too long");
        int n = await _stream.ReadAsync(_buffer.AsMemory(_end), ct);
        if (n == 0) throw new EndOfStreamException("server closed the connection");
        _end += n;
    }

    public void Dispose() => _tcp.Dispose();
}
