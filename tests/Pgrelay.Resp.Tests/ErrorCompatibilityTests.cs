namespace Pgrelay.Resp.Tests;

/// <summary>Error texts must be Redis's, byte for byte: tools and client libraries match on them.</summary>
public sealed class ErrorCompatibilityTests(ErrorCompatibilityTests.Servers servers) : IClassFixture<ErrorCompatibilityTests.Servers>
{
    /// <summary>One real redis-server and one pgrelay for the whole class: these tests only read.</summary>
    public sealed class Servers : IAsyncLifetime
    {
        public RealRedis Redis { get; private set; } = null!;
        public TestServer Pgrelay { get; private set; } = null!;

        public async Task InitializeAsync()
        {
            Redis = await RealRedis.StartAsync();
            Pgrelay = await TestServer.StartAsync();
        }

        public async Task DisposeAsync()
        {
            await Redis.DisposeAsync();
            await Pgrelay.DisposeAsync();
        }
    }

    public static TheoryData<string[]> Commands => new()
    {
        new[] { "foo", "a", "b" },
        new[] { "FOO" },
        new[] { "nosuch", new string('x', 200), "y" },
        new[] { "hget" },
        new[] { "HGET", "a" },
        new[] { "ping", "a", "b" },
        new[] { "hgetall", "a", "b" },
        new[] { "select", "x" },
        new[] { "exec" },
        new[] { "discard" },
        new[] { "scan", "x" },
        new[] { "scan", "0", "COUNT", "x" },
        new[] { "scan", "0", "COUNT", "0" },
        new[] { "scan", "0", "FOO" },
        new[] { "client", "nosuch" },
        new[] { "echo" },
    };

    [Theory]
    [MemberData(nameof(Commands))]
    public async Task Errors_match_redis(string[] command)
    {
        using var expected = await RawClient.ConnectAsync(servers.Redis.Port);
        using var actual = await RawClient.ConnectAsync(servers.Pgrelay.Port);

        Assert.Equal(await expected.CommandAsync(command), await actual.CommandAsync(command));
    }

    [Theory]
    [InlineData("*1\r\n$abc\r\n")]
    [InlineData("*x\r\n")]
    [InlineData("*1\r\n+abc\r\n")]
    [InlineData("PING \"abc\r\n")]
    [InlineData("*2\r\n$4\r\nPING\r\n$-5\r\n")]
    public async Task Protocol_errors_match_redis_and_close_the_connection(string input)
    {
        using var expected = await RawClient.ConnectAsync(servers.Redis.Port);
        using var actual = await RawClient.ConnectAsync(servers.Pgrelay.Port);

        await expected.SendRawAsync(input);
        await actual.SendRawAsync(input);
        Assert.Equal(await expected.ReadAsync(), await actual.ReadAsync());
        Assert.True(await actual.IsClosedAsync());
    }
}
