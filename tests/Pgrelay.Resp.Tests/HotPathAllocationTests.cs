using System.Diagnostics;
using System.Text;
using Pgrelay.Core.Status;
using Pgrelay.Resp.Server;
using Pgrelay.Transport;
using Xunit.Abstractions;

namespace Pgrelay.Resp.Tests;

/// <summary>
/// The read path (parse a request, check it, look the row up, render the reply into the output buffer) must not
/// allocate once warm. Driven on one thread through an in-process connection, which hands bytes to the session exactly
/// as an event loop does, so GC.GetAllocatedBytesForCurrentThread sees all of it. The time per command is printed for
/// information only: speed is measured in bench/resp, never asserted here.
/// </summary>
public sealed class HotPathAllocationTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData("HGETALL", "pub.cities.Tulsa/OK")]
    [InlineData("HGET", "pub.users.2", "email")]
    [InlineData("HMGET", "pub.users.2", "name", "email", "nosuch")]
    [InlineData("EXISTS", "pub.users.1", "pub.users.404")]
    [InlineData("HGETALL", "pub.users.404")]
    public void Reads_do_not_allocate(params string[] command)
    {
        using var server = new RespServer(TestServer.CreateStore(), new ReplicationStatus(), new RespOptions());
        var connection = new InProcessConnection(server.Sessions);
        var bytes = Encode(command);
        var pipelined = Enumerable.Repeat(bytes, 16).SelectMany(b => b).ToArray();

        void Run(int times)
        {
            for (int i = 0; i < times; i++)
            {
                // One request per read, and a pipelined batch of 16 with requests split across reads.
                connection.Receive(bytes);
                if (i % 8 == 0)
                {
                    connection.Receive(pipelined.AsSpan(0, 100));
                    connection.Receive(pipelined.AsSpan(100));
                }
                connection.DiscardOutput();
            }
            if (connection.IsClosed) throw new InvalidOperationException("the session closed the connection");
        }

        Run(10_000);   // warm up: JIT, the receive and output buffers, the argument arrays
        long before = GC.GetAllocatedBytesForCurrentThread();
        long started = Stopwatch.GetTimestamp();
        const int n = 100_000;
        Run(n);
        var elapsed = Stopwatch.GetElapsedTime(started);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        output.WriteLine($"{string.Join(' ', command)}: {allocated} bytes allocated over {n} commands (+ {n / 8 * 16} pipelined), {elapsed.TotalNanoseconds / n:F0} ns/iteration (information only)");
        Assert.Equal(0, allocated);
    }

    private static byte[] Encode(string[] args)
    {
        var text = new StringBuilder().Append('*').Append(args.Length).Append("\r\n");
        foreach (var a in args) text.Append('$').Append(Encoding.UTF8.GetByteCount(a)).Append("\r\n").Append(a).Append("\r\n");
        return Encoding.UTF8.GetBytes(text.ToString());
    }
}
