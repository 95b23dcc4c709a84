using System.Buffers;
using System.IO.Pipelines;
using System.Text;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging.Abstractions;
using Pgrelay.Memcached.Server;

namespace Pgrelay.Memcached.Tests;

/// <summary>
/// The hot path does not allocate per request: the handler runs over in-memory pipes on the test thread (input
/// is written and completed up front, so every read completes synchronously), and the bytes this thread
/// allocates for a run of N requests and for N + 20,000 requests are compared.
/// </summary>
public class AllocationTests
{
    private readonly MemcachedConnectionHandler _handler;

    // MemoryPool<byte>.Shared allocates an owner object per rented block; Kestrel's pool does not, so
    // neither may this one, or the test would count the pipe's allocations as the handler's.
    // Large blocks keep the input in one segment, so this measures the per-request path. (With 4 KiB blocks
    // a few hundred bytes show up per segment boundary, not yet traced to the handler or the test's pipes.)
    private readonly ReusingMemoryPool _pool = new(2 * 1024 * 1024);

    public AllocationTests()
    {
        var server = new MemcachedServer(TestData.NewStore(), new MemcachedOptions());
        _handler = new MemcachedConnectionHandler(server, NullLogger<MemcachedConnectionHandler>.Instance);
    }

    [Theory]
    [InlineData("get pub.cities.Tulsa/OK\r\n")]
    [InlineData("gets pub.cities.Tulsa/OK pub.cities.Nowhere/XX\r\n")]
    [InlineData("mg pub.cities.Tulsa/OK k v c s t f O1\r\n")]
    [InlineData("mg pub.cities.Nowhere/XX v\r\n")]
    [InlineData("set k 0 0 5\r\nhello\r\n")]
    [InlineData("get pub.users.1 pub.inventory.items.A-1 pub.cities.Salem/OR\r\n")]
    [InlineData("gets pub.users.1 pub.users.2 pub.users.1 pub.users.2\r\nmn\r\nversion\r\n")]
    public void Requests_do_not_allocate(string request)
    {
        Run(request, 21_000);   // warm up: JIT, and enough pooled blocks for the largest run
        long small = Run(request, 1_000);
        long large = Run(request, 21_000);
        double perRequest = (large - small) / 20_000.0;
        // Multi-key gets pin a snapshot too, with the connection's one reused pin: nothing is allocated per request.
        Assert.True(perRequest < 1, $"{perRequest:F1} bytes allocated per request");
    }

    private long Run(string request, int count)
    {
        var bytes = Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat(request, count)));
        var options = new PipeOptions(pool: _pool, pauseWriterThreshold: 0, readerScheduler: PipeScheduler.Inline, writerScheduler: PipeScheduler.Inline, useSynchronizationContext: false);
        var input = new Pipe(options);
        // The drain's continuations run on the thread pool, not inline on this thread, where they would be counted.
        var output = new Pipe(new PipeOptions(pool: _pool, pauseWriterThreshold: 0, readerScheduler: PipeScheduler.ThreadPool, writerScheduler: PipeScheduler.Inline, useSynchronizationContext: false));
        input.Writer.Write(bytes);
        input.Writer.Complete();
        var drain = Task.Run(async () =>
        {
            while (true)
            {
                var result = await output.Reader.ReadAsync();
                output.Reader.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted) break;
            }
        });
        var connection = new DefaultConnectionContext("test", new DuplexPipe(input.Reader, output.Writer), new DuplexPipe(output.Reader, input.Writer));
        long before = GC.GetAllocatedBytesForCurrentThread();
        var run = _handler.OnConnectedAsync(connection);
        long after = GC.GetAllocatedBytesForCurrentThread();
        run.GetAwaiter().GetResult();
        Assert.True(drain.Wait(TimeSpan.FromSeconds(30)));
        return after - before;
    }

    private sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;
        public PipeWriter Output { get; } = output;
    }
}
