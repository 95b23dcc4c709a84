using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;

namespace Pgrelay.Resp.Tests;

/// <summary>
/// Protected mode decided for each new connection, as redis-server 7.0 does: once the default user needs no password,
/// a client from a non-loopback address gets Redis's DENIED line and is closed; loopback clients go on. The clients
/// connect to this machine's own non-loopback address, so nothing leaves the host.
/// </summary>
public sealed class ProtectedModeTests
{
    /// <summary>An address of this machine other than loopback; null on a machine with loopback only.</summary>
    internal static string? OwnNonLoopbackAddress() => NetworkInterface.GetAllNetworkInterfaces()
        .Where(n => n.OperationalStatus == OperationalStatus.Up && n.NetworkInterfaceType != NetworkInterfaceType.Loopback)
        .SelectMany(n => n.GetIPProperties().UnicastAddresses)
        .Select(a => a.Address)
        .FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork && !IPAddress.IsLoopback(a))?.ToString();

    /// <summary>What a new client from <paramref name="host"/> hears first when it sends PING.</summary>
    private static async Task<object?> FirstReply(string host, int port)
    {
        using var client = await RawClient.ConnectAsync(host, port);
        return await client.CommandAsync("PING");
    }

    [Fact]
    public async Task Removing_the_default_password_denies_new_remote_clients_like_redis()
    {
        if (OwnNonLoopbackAddress() is not { } remote) return;   // no second address to come from: nothing to show
        await using var redis = await RealRedis.StartAsync("--bind", "0.0.0.0", "--requirepass", "pw");
        await using var pgrelay = await TestServer.StartAsync(new RespOptions { BindAddress = IPAddress.Any, Password = "pw" });
        foreach (var port in new[] { redis.Port, pgrelay.Port })
        {
            Assert.Equal(new RespError("NOAUTH Authentication required."), await FirstReply(remote, port));
            using var admin = await RawClient.ConnectAsync(port);
            await admin.CommandAsync("AUTH", "pw");
            using var remoteBefore = await RawClient.ConnectAsync(remote, port);
            Assert.Equal(new RespSimple("OK"), await remoteBefore.CommandAsync("AUTH", "pw"));
            Assert.Equal(new RespSimple("OK"), await admin.CommandAsync("ACL", "SETUSER", "default", "nopass"));

            var denied = Assert.IsType<RespError>(await FirstReply(remote, port));
            Assert.StartsWith("DENIED Redis is running in protected mode", denied.Message);
            Assert.Equal(new RespSimple("PONG"), await FirstReply("127.0.0.1", port));
            Assert.Equal(new RespSimple("PONG"), await remoteBefore.CommandAsync("PING"));   // admitted earlier: stays

            Assert.Equal(new RespSimple("OK"), await admin.CommandAsync("ACL", "SETUSER", "default", ">again"));
            Assert.Equal(new RespError("NOAUTH Authentication required."), await FirstReply(remote, port));
        }
        using var fromRedis = await RawClient.ConnectAsync(remote, redis.Port);
        using var fromPgrelay = await RawClient.ConnectAsync(remote, pgrelay.Port);
        using var redisAdmin = await RawClient.ConnectAsync(redis.Port);
        using var pgrelayAdmin = await RawClient.ConnectAsync(pgrelay.Port);
        await redisAdmin.CommandAsync("AUTH", "again");
        await pgrelayAdmin.CommandAsync("AUTH", "again");
        await redisAdmin.CommandAsync("ACL", "SETUSER", "default", "nopass");
        await pgrelayAdmin.CommandAsync("ACL", "SETUSER", "default", "nopass");
        Assert.Equal(await FirstReply(remote, redis.Port), await FirstReply(remote, pgrelay.Port));   // the whole DENIED text
    }

    [Fact]
    public async Task An_acl_load_without_a_default_line_denies_new_remote_clients()
    {
        if (OwnNonLoopbackAddress() is not { } remote) return;
        var file = Path.Combine(Path.GetTempPath(), $"pgrelay-acl-{Guid.NewGuid():N}.acl");
        await File.WriteAllTextAsync(file, "user default on >pw ~* &* +@all\nuser app on >app ~pub.* +@read\n");
        try
        {
            await using var server = await TestServer.StartAsync(new RespOptions { BindAddress = IPAddress.Any, AclFile = file });
            using var app = await RawClient.ConnectAsync(remote, server.Port);
            Assert.Equal(new RespSimple("OK"), await app.CommandAsync("AUTH", "app", "app"));

            await File.WriteAllTextAsync(file, "user app on >app ~pub.* +@read\n");   // no default line: default comes back without a password
            using var admin = await RawClient.ConnectAsync(server.Port);
            await admin.CommandAsync("AUTH", "pw");
            Assert.Equal(new RespSimple("OK"), await admin.CommandAsync("ACL", "LOAD"));
            Assert.StartsWith("DENIED ", Assert.IsType<RespError>(await FirstReply(remote, server.Port)).Message);
            Assert.Equal("Ada", await app.CommandAsync("HGET", "pub.users.1", "name"));
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public async Task Protected_mode_off_serves_remote_clients_without_a_password()
    {
        if (OwnNonLoopbackAddress() is not { } remote) return;
        await using var server = await TestServer.StartAsync(new RespOptions { BindAddress = IPAddress.Any, ProtectedMode = false });
        Assert.Equal(new RespSimple("PONG"), await FirstReply(remote, server.Port));
    }
}
