using System.Text;
using Pgrelay.Memcached.Server;
using Pgrelay.Transport;

namespace Pgrelay.Memcached.Tests;

/// <summary>
/// The hot path does not allocate per request: the session runs through an in-process connection on the test thread,
/// which hands it bytes exactly as an event loop does, and the bytes this thread allocates for a run of N requests
/// and for N + 20,000 requests are compared.
/// </summary>
public class AllocationTests
{
    private readonly MemcachedServer _server = new(TestData.NewStore(), new MemcachedOptions());

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
        var one = Encoding.ASCII.GetBytes(request);
        var connection = new InProcessConnection(_server.Sessions);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < count; i++)
        {
            connection.Receive(one);
            connection.DiscardOutput();
        }
        long after = GC.GetAllocatedBytesForCurrentThread();
        Assert.False(connection.IsClosed);
        return after - before;
    }
}
