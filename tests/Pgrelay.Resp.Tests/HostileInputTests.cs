using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using Pgrelay.Transport;

namespace Pgrelay.Resp.Tests;

/// <summary>
/// What a hostile client sends, answered exactly as redis-server 7 answers it: the same bytes go to a real redis-server
/// and to pgrelay (both requiring a password, or both configured with the same limit), and everything each sends back
/// before closing is compared byte for byte.
/// </summary>
public sealed class HostileInputTests(HostileInputTests.PasswordPair passwords, HostileInputTests.LimitPair limits)
    : IClassFixture<HostileInputTests.PasswordPair>, IClassFixture<HostileInputTests.LimitPair>
{
    /// <summary>redis-server and pgrelay side by side, configured alike.</summary>
    public abstract class Pair(RespOptions options, params string[] redisArguments) : IAsyncLifetime
    {
        public Pgrelay.Testing.RedisServerProcess Redis { get; private set; } = null!;
        public TestServer Server { get; private set; } = null!;

        public async Task InitializeAsync()
        {
            Redis = await Pgrelay.Testing.RedisServerProcess.StartAsync(null, redisArguments);
            Server = await TestServer.StartAsync(options);
        }

        public async Task DisposeAsync()
        {
            await Server.DisposeAsync();
            await Redis.DisposeAsync();
        }
    }

    public sealed class PasswordPair() : Pair(new RespOptions { Password = "secret" }, "--requirepass", "secret");
    public sealed class LimitPair() : Pair(new RespOptions { ProtoMaxBulkLength = 1024 * 1024 }, "--proto-max-bulk-len", "1mb");

    private static byte[] B(string text) => Encoding.Latin1.GetBytes(text);

    public static TheoryData<string> Unauthenticated => new()
    {
        "*11\r\n",                                     // more than 10 arguments before AUTH
        "*10\r\n$16385\r\n",                           // a bulk over 16 KiB before AUTH
        "*1\r\n$16384\r\n" + new string('a', 16384) + "\r\n",   // at the cap: a command, refused for want of AUTH
        "*1\r\n$536870913\r\n",                        // over proto-max-bulk-len: that check comes first
        "*3\r\n$4\r\nAUTH\r\n$7\r\ndefault\r\n$5\r\nwrong\r\n",
        "*1\r\n$4\r\nPING\r\n",
        "PING\r\n",
        "*abc\r\n",
        "*-7\r\n*0\r\n",
        "*01\r\n",
        "*+1\r\n",
        "*2147483648\r\n",
        "*1\r\nPING\r\n",                             // expected '$', got 'P'
        "*1\r\n\r\n\r\n",                              // expected '$', got '\r' (a space in the error)
        "*1\r\n$-1\r\n",
        "*1\r\n$01\r\nx\r\n",
        "*1\r\n$1\r\nxYZ*1\r\n$4\r\nPING\r\n",         // the two bytes after a bulk are not checked
        "*1\rX$4\r\nPING\r\n",                         // nor is the byte after the count's CR
        "ECHO \"unbalanced\r\n",
        "ECHO 'x'y\r\n",
        "\r\n\r\n\n",
        "*" + new string('9', 70_000),                 // a count line that never ends
        "*1\r\n$" + new string('9', 70_000),           // a bulk length line that never ends
        new string('a', 70_000),                       // an inline request that never ends
        "*1\r\n\xff\r\n",                              // a raw byte in the error, as Redis writes it
    };

    [Theory]
    [MemberData(nameof(Unauthenticated))]
    public async Task Unauthenticated_input_is_answered_as_redis_answers_it(string request)
    {
        var bytes = B(request);
        Assert.Equal(await Wire.ExchangeAsync(passwords.Redis.Port, bytes), await Wire.ExchangeAsync(passwords.Server.Port, bytes));
    }

    public static TheoryData<string> Authenticated => new()
    {
        "*11\r\n$4\r\nECHO\r\n" + string.Concat(Enumerable.Repeat("$1\r\nx\r\n", 10)),   // no cap once in (ECHO's arity)
        "*2\r\n$4\r\nECHO\r\n$20000\r\n" + new string('b', 20000) + "\r\n",
        "*1\r\n$1048577\r\n",                          // over proto-max-bulk-len 1mb
        "*2\r\n$4\r\nECHO\r\n$1048576\r\n" + new string('c', 1_048_576) + "\r\n",
    };

    [Theory]
    [MemberData(nameof(Authenticated))]
    public async Task Limits_answer_as_redis_answers_them(string request)
    {
        var bytes = B(request);
        Assert.Equal(await Wire.ExchangeAsync(limits.Redis.Port, bytes), await Wire.ExchangeAsync(limits.Server.Port, bytes));
    }

    [Fact]
    public async Task A_request_beyond_the_query_buffer_limit_closes_the_connection_as_redis_does()
    {
        await using var redis = await Pgrelay.Testing.RedisServerProcess.StartAsync(null, "--client-query-buffer-limit", "1mb");
        await using var server = await TestServer.StartAsync(new RespOptions { QueryBufferLimit = 1024 * 1024 });
        var request = B("*2\r\n$4\r\nECHO\r\n$3000000\r\n" + new string('d', 3_000_000) + "\r\n");
        string expected = await Wire.ExchangeAsync(redis.Port, request);
        Assert.Equal("", expected);   // closed without a word
        Assert.Equal(expected, await Wire.ExchangeAsync(server.Port, request));
        Assert.Equal("PONG", Assert.IsType<RespSimple>(await (await RawClient.ConnectAsync(server.Port)).CommandAsync("PING")).Text);
    }

    [Fact]
    public async Task Maxclients_refuses_with_redis_words()
    {
        await using var redis = await Pgrelay.Testing.RedisServerProcess.StartAsync(null, "--maxclients", "2");
        await using var server = await TestServer.StartAsync(new RespOptions { MaxClients = 2 });
        foreach (int port in new[] { redis.Port, server.Port })
        {
            using var a = await RawClient.ConnectAsync(port);
            using var b = await RawClient.ConnectAsync(port);
            Assert.Equal(new RespSimple("PONG"), await a.CommandAsync("PING"));
            Assert.Equal(new RespSimple("PONG"), await b.CommandAsync("PING"));
            Assert.Equal("-ERR max number of clients reached\\r\\n", await Wire.ExchangeAsync(port, []));
        }
    }

    /// <summary>
    /// The repro: one HMGET of 62 MiB trickled in 16 KiB pieces, each arriving on its own. A parser that starts
    /// over on every read does work quadratic in the size (the old parser: tens of CPU-seconds; 46.6 s for 48 MB in the
    /// issue); resuming costs the size once. CPU is read from the process's counters, with a bound far above what
    /// linear parsing needs (about a second here, most of it the test building and sending the request).
    /// </summary>
    [Fact]
    public async Task A_large_request_arriving_in_pieces_costs_work_linear_in_its_size()
    {
        await using var server = await TestServer.StartAsync();
        const int fields = 65_000, fieldLength = 1000;   // within what the old parser allowed (65,536 arguments, 1 MiB each)
        var header = B($"*{fields + 2}\r\n$5\r\nHMGET\r\n$11\r\npub.users.1\r\n");
        var field = B($"${fieldLength}\r\n{new string('f', fieldLength)}\r\n");
        var bytes = new byte[header.Length + fields * field.Length];
        header.CopyTo(bytes, 0);
        for (int i = 0; i < fields; i++) field.CopyTo(bytes, header.Length + i * field.Length);

        using var client = await RawClient.ConnectAsync(server.Port);
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        long examined = server.Server.ParsedBytes;
        for (int at = 0; at < bytes.Length; at += 16384)
        {
            await client.SendRawAsync(bytes.AsMemory(at, Math.Min(16384, bytes.Length - at)));
            await Task.Delay(1);
        }
        var reply = Assert.IsType<object?[]>(await client.ReadAsync());
        var used = Process.GetCurrentProcess().TotalProcessorTime - cpu;

        Assert.Equal(fields, reply.Length);
        Assert.All(reply, Assert.Null);
        Assert.True(used < TimeSpan.FromSeconds(15), $"{used.TotalSeconds:F1} CPU-seconds for one {bytes.Length / 1048576} MiB request");
        Assert.InRange(server.Server.ParsedBytes - examined, bytes.Length / 2, 2L * bytes.Length);
    }

    [Fact]
    public async Task Bytes_examined_by_the_parser_stay_linear_however_a_request_is_trickled()
    {
        await using var server = await TestServer.StartAsync();
        var bulk = new string('t', 300_000);
        var bytes = B($"*2\r\n$4\r\nECHO\r\n$300000\r\n{bulk}\r\n*1\r\n$4\r\nPING\r\n");
        int replyLength = "$300000\r\n".Length + 300_000 + 2 + "+PONG\r\n".Length;
        using var tcp = new TcpClient { NoDelay = true };
        await tcp.ConnectAsync("127.0.0.1", server.Port);
        var stream = tcp.GetStream();
        long before = server.Server.ParsedBytes;
        // Small pieces, each its own segment: every read brings a little more of the same request.
        for (int at = 0; at < bytes.Length; at += 97) await stream.WriteAsync(bytes.AsMemory(at, Math.Min(97, bytes.Length - at)));
        var client = new byte[300_100];
        int got = 0;
        using var guard = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (got < replyLength) got += await stream.ReadAsync(client.AsMemory(got), guard.Token);
        Assert.EndsWith("+PONG\r\n", Encoding.ASCII.GetString(client, 0, got));
        long examined = server.Server.ParsedBytes - before;
        Assert.InRange(examined, bytes.Length / 2, 2L * bytes.Length);   // every byte about once, not once per read
    }

    [Fact]
    public async Task Unauthenticated_floods_are_refused_at_the_header()
    {
        await using var server = await TestServer.StartAsync(new RespOptions { Password = "secret" });
        var flood = B("*65536\r\n$1048576\r\n" + new string('z', 65536));
        var tasks = Enumerable.Range(0, 60).Select(_ => Wire.ExchangeAsync(server.Port, flood));
        foreach (var reply in await Task.WhenAll(tasks))
            Assert.Equal("-ERR Protocol error: unauthenticated multibulk length\\r\\n", reply);
        Assert.True(server.Server.ParsedBytes < 60 * 64, $"{server.Server.ParsedBytes} bytes examined for 60 refused headers");
    }
}
