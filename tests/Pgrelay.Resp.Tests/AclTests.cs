namespace Pgrelay.Resp.Tests;

public sealed class AclTests
{
    [Fact]
    public async Task Users_are_limited_to_their_keys_and_commands_with_redis_wording()
    {
        await using var server = await TestServer.StartAsync();
        using var admin = await RawClient.ConnectAsync(server.Port);
        using var alice = await RawClient.ConnectAsync(server.Port);

        Assert.Equal(new RespSimple("OK"), await admin.CommandAsync("ACL", "SETUSER", "alice", "on", ">wonderland", "~pub.cities.*", "+@read"));
        Assert.Equal(new RespError("WRONGPASS invalid username-password pair or user is disabled."), await alice.CommandAsync("AUTH", "alice", "wrong"));
        Assert.Equal(new RespSimple("OK"), await alice.CommandAsync("AUTH", "alice", "wonderland"));

        Assert.Equal("413066", await alice.CommandAsync("HGET", "pub.cities.Tulsa/OK", "population"));
        Assert.Equal(new RespError("NOPERM this user has no permissions to access one of the keys used as arguments"),
            await alice.CommandAsync("HGET", "pub.users.1", "name"));
        Assert.Equal(new RespError("NOPERM this user has no permissions to run the 'set' command"), await alice.CommandAsync("SET", "pub.cities.x", "1"));
        Assert.Equal(new RespError("NOPERM this user has no permissions to run the 'acl|whoami' command"), await alice.CommandAsync("ACL", "WHOAMI"));

        Assert.Equal(new object?[] { "alice", "default" }, await admin.CommandAsync("ACL", "USERS"));
        var list = Assert.IsType<object?[]>(await admin.CommandAsync("ACL", "LIST"));
        Assert.Contains("user alice on #" + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData("wonderland"u8)) + " ~pub.cities.* resetchannels -@all +@read", list);
        Assert.Contains("user default on nopass ~* &* +@all", list);
        Assert.Equal("default", await admin.CommandAsync("ACL", "WHOAMI"));

        Assert.Equal(new RespError("ERR Error in ACL SETUSER modifier '+nosuch': Unknown command or category name in ACL"),
            await admin.CommandAsync("ACL", "SETUSER", "bob", "+nosuch"));
        Assert.Equal(1L, await admin.CommandAsync("ACL", "DELUSER", "alice"));
        Assert.True(await alice.IsClosedAsync());
    }

    [Fact]
    public async Task A_password_makes_clients_authenticate_first()
    {
        await using var server = await TestServer.StartAsync(new RespOptions { Password = "s3cret" });
        using var c = await RawClient.ConnectAsync(server.Port);

        Assert.Equal(new RespError("NOAUTH Authentication required."), await c.CommandAsync("HGET", "pub.users.1", "name"));
        Assert.Equal(new RespError("WRONGPASS invalid username-password pair or user is disabled."), await c.CommandAsync("AUTH", "nope"));
        Assert.Equal(new RespSimple("OK"), await c.CommandAsync("AUTH", "s3cret"));
        Assert.Equal("Ada", await c.CommandAsync("HGET", "pub.users.1", "name"));

        using var hello = await RawClient.ConnectAsync(server.Port);
        var map = Assert.IsType<RespMap>(await hello.CommandAsync("HELLO", "3", "AUTH", "default", "s3cret", "SETNAME", "app"));
        Assert.Equal(3L, map["proto"]);
        Assert.Equal("app", await hello.CommandAsync("CLIENT", "GETNAME"));

        Assert.Contains("NOAUTH", await RedisTools.CliAsync(server.Port, "HGET", "pub.users.1", "name"));
        Assert.Equal("Ada", (await RedisTools.CliAsync(server.Port, "--no-auth-warning", "-a", "s3cret", "HGET", "pub.users.1", "name")));
    }

    [Fact]
    public async Task Acl_file_is_loaded_at_start()
    {
        var file = Path.Combine(Path.GetTempPath(), $"pgrelay-acl-{Guid.NewGuid():N}.acl");
        await File.WriteAllTextAsync(file, "user default off\nuser reader on >pw ~pub.users.* +@read +@connection\n");
        try
        {
            await using var server = await TestServer.StartAsync(new RespOptions { AclFile = file });
            using var c = await RawClient.ConnectAsync(server.Port);
            Assert.Equal(new RespError("NOAUTH Authentication required."), await c.CommandAsync("PING"));
            Assert.Equal(new RespSimple("OK"), await c.CommandAsync("AUTH", "reader", "pw"));
            Assert.Equal("Ada", await c.CommandAsync("HGET", "pub.users.1", "name"));
            Assert.IsType<RespError>(await c.CommandAsync("HGET", "pub.cities.Tulsa/OK", "name"));
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void Protected_mode_refuses_non_loopback_binding_without_a_password()
    {
        var open = new RespOptions { BindAddress = System.Net.IPAddress.Any };
        var error = Assert.Throws<InvalidOperationException>(open.Validate);
        Assert.Contains("protected mode", error.Message);
        new RespOptions { BindAddress = System.Net.IPAddress.Any, Password = "x" }.Validate();
        new RespOptions { BindAddress = System.Net.IPAddress.Any, ProtectedMode = false }.Validate();
        new RespOptions().Validate();
    }
}
