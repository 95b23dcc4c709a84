// Usage:
//   LoadGen bench <host:port> <keys-file> <requests> <connections> <pipeline> <get|mg|multiget>
//   LoadGen copy  <from host:port> <to host:port> <keys-file>
// bench: every connection sends its share of <requests> as batches of <pipeline> requests, reading all replies
//        of a batch before sending the next; prints one line
//        "ops=<n> seconds=<s> ops_per_sec=<r> hits=<h> p50_us=<a> p99_us=<b>", the percentiles being of one batch's
//        round trip (send to last reply byte). multiget sends one "get" with <pipeline> keys per request (ops count keys).
// copy:  reads each key from one server (get) and stores the same bytes on the other (set): same values both sides.
using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Text;

return args[0] switch
{
    "bench" => Bench(args),
    "copy" => Copy(args),
    _ => Usage(),
};

static int Usage()
{
    Console.Error.WriteLine("LoadGen bench <host:port> <keys-file> <requests> <connections> <pipeline> <get|mg|multiget> | copy <from> <to> <keys-file>");
    return 2;
}

static int Bench(string[] args)
{
    var endpoint = args[1];
    var keys = File.ReadAllLines(args[2]).Where(k => k.Length > 0).Select(Encoding.UTF8.GetBytes).ToArray();
    long requests = long.Parse(args[3], CultureInfo.InvariantCulture);
    int connections = int.Parse(args[4], CultureInfo.InvariantCulture);
    int pipeline = int.Parse(args[5], CultureInfo.InvariantCulture);
    string mode = args[6];
    if (keys.Length == 0) throw new InvalidOperationException("no keys");

    var clients = Enumerable.Range(0, connections).Select(_ => new Client(endpoint)).ToArray();
    foreach (var c in clients) c.Warm(keys[0]);
    long hits = 0;
    var latencies = new List<long>[connections];
    var clock = Stopwatch.StartNew();
    var threads = clients.Select((client, index) => new Thread(() =>
    {
        long share = requests / connections + (index < requests % connections ? 1 : 0);
        // Room for every batch's round trip, allocated before the clock matters.
        var rounds = latencies[index] = new List<long>((int)(share / pipeline + 1));
        long h = mode == "multiget" ? client.MultiGet(keys, share, pipeline, index, rounds) : client.Run(keys, share, pipeline, mode == "mg", index, rounds);
        Interlocked.Add(ref hits, h);
    })).ToArray();
    foreach (var t in threads) t.Start();
    foreach (var t in threads) t.Join();
    double seconds = clock.Elapsed.TotalSeconds;
    foreach (var c in clients) c.Dispose();
    var all = latencies.SelectMany(l => l).Order().ToArray();
    double Percentile(double p) => all.Length == 0 ? 0 : all[Math.Min(all.Length - 1, (int)(p * all.Length))] * 1e6 / Stopwatch.Frequency;
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"ops={requests} seconds={seconds:F3} ops_per_sec={requests / seconds:F0} hits={hits} p50_us={Percentile(0.50):F0} p99_us={Percentile(0.99):F0}"));
    return hits == requests ? 0 : 1;
}

static int Copy(string[] args)
{
    using var from = new Client(args[1]);
    using var to = new Client(args[2]);
    var keys = File.ReadAllLines(args[3]).Where(k => k.Length > 0).ToArray();
    int copied = 0;
    foreach (var chunk in keys.Chunk(100))
    {
        var values = from.GetMany(chunk);
        var request = new MemoryStream();
        foreach (var (key, value) in values)
        {
            request.Write(Encoding.UTF8.GetBytes($"set {key} 0 0 {value.Length}\r\n"));
            request.Write(value);
            request.Write("\r\n"u8);
        }
        to.SendRaw(request.ToArray());
        foreach (var _ in values)
        {
            var reply = to.ReadLine();
            if (reply != "STORED") throw new InvalidOperationException("set failed: " + reply);
            copied++;
        }
    }
    Console.WriteLine($"copied={copied}");
    return copied == keys.Length ? 0 : 1;
}

sealed class Client : IDisposable
{
    private readonly Socket _socket;
    private readonly byte[] _in = new byte[256 * 1024];
    private int _start, _end;
    private byte[] _out = new byte[64 * 1024];

    public Client(string endpoint)
    {
        var parts = endpoint.Split(':');
        _socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true, ReceiveTimeout = 30_000, SendTimeout = 30_000 };
        _socket.Connect(parts[0], int.Parse(parts[1], CultureInfo.InvariantCulture));
    }

    public void Warm(byte[] key)
    {
        SendRaw([.. "get "u8, .. key, .. "\r\n"u8]);
        while (ReadLine() != "END") { }
    }

    /// <summary>Batches of single-key get (or mg key v); returns hits.</summary>
    public long Run(byte[][] keys, long count, int pipeline, bool meta, int seed, List<long> rounds)
    {
        long hits = 0;
        int next = (seed * 7919) % keys.Length;
        while (count > 0)
        {
            int batch = (int)Math.Min(pipeline, count);
            int length = 0;
            for (int i = 0; i < batch; i++)
            {
                var key = keys[next];
                next = next + 1 == keys.Length ? 0 : next + 1;
                EnsureOut(length + key.Length + 10);
                var prefix = meta ? "mg "u8 : "get "u8;
                prefix.CopyTo(_out.AsSpan(length)); length += prefix.Length;
                key.CopyTo(_out, length); length += key.Length;
                var suffix = meta ? " v\r\n"u8 : "\r\n"u8;
                suffix.CopyTo(_out.AsSpan(length)); length += suffix.Length;
            }
            long start = Stopwatch.GetTimestamp();
            Send(length);
            for (int i = 0; i < batch; i++) hits += meta ? ReadMeta() : ReadGet();
            rounds.Add(Stopwatch.GetTimestamp() - start);
            count -= batch;
        }
        return hits;
    }

    /// <summary>"get k1 k2 ... kN" requests; counts keys as operations; returns hits.</summary>
    public long MultiGet(byte[][] keys, long count, int keysPerGet, int seed, List<long> rounds)
    {
        long hits = 0;
        int next = (seed * 7919) % keys.Length;
        while (count > 0)
        {
            int batch = (int)Math.Min(keysPerGet, count);
            int length = 0;
            EnsureOut(4);
            "get"u8.CopyTo(_out.AsSpan(length)); length += 3;
            for (int i = 0; i < batch; i++)
            {
                var key = keys[next];
                next = next + 1 == keys.Length ? 0 : next + 1;
                EnsureOut(length + key.Length + 4);
                _out[length++] = (byte)' ';
                key.CopyTo(_out, length); length += key.Length;
            }
            "\r\n"u8.CopyTo(_out.AsSpan(length)); length += 2;
            long start = Stopwatch.GetTimestamp();
            Send(length);
            hits += ReadGet();
            rounds.Add(Stopwatch.GetTimestamp() - start);
            count -= batch;
        }
        return hits;
    }

    public List<(string Key, byte[] Value)> GetMany(string[] keys)
    {
        SendRaw(Encoding.UTF8.GetBytes("get " + string.Join(' ', keys) + "\r\n"));
        var values = new List<(string, byte[])>();
        while (true)
        {
            var line = ReadLine();
            if (line == "END") return values;
            var parts = line.Split(' ');
            int n = int.Parse(parts[3], CultureInfo.InvariantCulture);
            var value = new byte[n];
            for (int i = 0; i < n; i++) value[i] = ReadByte();
            ReadByte(); ReadByte();
            values.Add((parts[1], value));
        }
    }

    public void SendRaw(byte[] bytes)
    {
        int sent = 0;
        while (sent < bytes.Length) sent += _socket.Send(bytes, sent, bytes.Length - sent, SocketFlags.None);
    }

    private void Send(int length)
    {
        int sent = 0;
        while (sent < length) sent += _socket.Send(_out, sent, length - sent, SocketFlags.None);
    }

    private void EnsureOut(int length)
    {
        if (length > _out.Length) Array.Resize(ref _out, Math.Max(length, _out.Length * 2));
    }

    /// <summary>VALUE lines and blocks up to END; returns the number of values.</summary>
    private long ReadGet()
    {
        long values = 0;
        while (true)
        {
            // "END\r\n" or "VALUE <key> <flags> <bytes>\r\n"
            if (Peek() == (byte)'E') { SkipLine(); return values; }
            int length = ReadValueHeaderLength();
            Skip(length + 2);
            values++;
        }
    }

    /// <summary>"VA n\r\n<data>\r\n" or "EN\r\n"; returns 1 for a hit.</summary>
    private long ReadMeta()
    {
        if (Peek() == (byte)'E') { SkipLine(); return 0; }
        int length = ReadValueHeaderLength();
        Skip(length + 2);
        return 1;
    }

    /// <summary>Reads a header line and returns its last number (the value length of VALUE and VA lines).</summary>
    private int ReadValueHeaderLength()
    {
        int number = 0;
        while (true)
        {
            byte b = ReadByte();
            if (b == (byte)'\r') continue;
            if (b == (byte)'\n') return number;
            if (b == (byte)' ') number = 0;
            else if (b is >= (byte)'0' and <= (byte)'9') number = number * 10 + (b - '0');
        }
    }

    public string ReadLine()
    {
        var line = new StringBuilder();
        while (true)
        {
            byte b = ReadByte();
            if (b == (byte)'\n') return line.ToString().TrimEnd('\r');
            line.Append((char)b);
        }
    }

    private void SkipLine()
    {
        while (ReadByte() != (byte)'\n') { }
    }

    private void Skip(int n)
    {
        while (n > 0)
        {
            if (_start == _end) Fill();
            int k = Math.Min(n, _end - _start);
            _start += k;
            n -= k;
        }
    }

    private byte Peek()
    {
        if (_start == _end) Fill();
        return _in[_start];
    }

    private byte ReadByte()
    {
        if (_start == _end) Fill();
        return _in[_start++];
    }

    private void Fill()
    {
        _start = 0;
        _end = _socket.Receive(_in);
        if (_end == 0) throw new IOException("server closed the connection");
    }

    public void Dispose() => _socket.Dispose();
}
