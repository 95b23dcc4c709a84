using System.Buffers;
using System.Diagnostics;
using System.IO.Pipelines;
using System.Text;
using Microsoft.AspNetCore.Connections;
using Pgrelay.Core.Status;
using Pgrelay.Resp.Protocol;
using Pgrelay.Resp.Server;
using Xunit.Abstractions;

namespace Pgrelay.Resp.Tests;

/// <summary>
/// The read path (parse a request, check it, look the row up, render the reply into the output pipe) must not
/// allocate once warm. Driven on one thread without a socket so GC.GetAllocatedBytesForCurrentThread sees all of it.
/// The time per command is printed for information only: speed is measured in bench/resp, never asserted here.
/// </summary>
public sealed class HotPathAllocationTests(ITestOutputHelper output)
{
    private sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;
        public PipeWriter Output { get; } = output;
    }

    [Theory]
    [InlineData("HGETALL", "pub.cities.Tulsa/OK")]
    [InlineData("HGET", "pub.users.2", "email")]
    [InlineData("HMGET", "pub.users.2", "name", "email", "nosuch")]
    [InlineData("EXISTS", "pub.users.1", "pub.users.404")]
    [InlineData("HGETALL", "pub.users.404")]
    public void Reads_do_not_allocate(params string[] command)
    {
        using var server = new RespServer(TestServer.CreateStore(), new ReplicationStatus(), new RespOptions());
        using var pool = new ReusingMemoryPool();
        var fromClient = new Pipe(new PipeOptions(pool, useSynchronizationContext: false));
        var toClient = new Pipe(new PipeOptions(pool, pauseWriterThreshold: 0, useSynchronizationContext: false));
        var connection = new DefaultConnectionContext("alloc", new DuplexPipe(fromClient.Reader, toClient.Writer), new DuplexPipe(toClient.Reader, fromClient.Writer));
        var session = new RespSession(server, connection, 1);
        var bytes = Encode(command);
        var request = new RespRequest();
        var limits = server.Options.Limits;

        void Run(int times)
        {
            for (int i = 0; i < times; i++)
            {
                var buffer = new ReadOnlySequence<byte>(bytes);
                if (RespReader.TryParse(ref buffer, request, limits) != RespReader.Result.Command) throw new InvalidOperationException("not parsed");
                session.Execute(request);
                if (i % 64 == 63) Drain(toClient);
            }
            Drain(toClient);
        }

        Run(10_000);   // warm up: JIT, pooled pipe segments, the request arena
        long before = GC.GetAllocatedBytesForCurrentThread();
        long started = Stopwatch.GetTimestamp();
        const int n = 100_000;
        Run(n);
        var elapsed = Stopwatch.GetElapsedTime(started);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        output.WriteLine($"{string.Join(' ', command)}: {allocated} bytes allocated over {n} commands, {elapsed.TotalNanoseconds / n:F0} ns/command (information only)");
        Assert.Equal(0, allocated);
    }

    private static void Drain(Pipe pipe)
    {
        var flush = pipe.Writer.FlushAsync();
        if (!flush.IsCompleted) throw new InvalidOperationException("flush should complete at once");
        if (pipe.Reader.TryRead(out var read)) pipe.Reader.AdvanceTo(read.Buffer.End);
    }

    private static byte[] Encode(string[] args)
    {
        var text = new StringBuilder().Append('*').Append(args.Length).Append("\r\n");
        foreach (var a in args) text.Append('$').Append(Encoding.UTF8.GetByteCount(a)).Append("\r\n").Append(a).Append("\r\n");
        return Encoding.UTF8.GetBytes(text.ToString());
    }
}
