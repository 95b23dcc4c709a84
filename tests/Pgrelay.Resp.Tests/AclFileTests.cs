namespace Pgrelay.Resp.Tests;

public sealed class AclFileTests
{
    [Fact]
    public async Task Save_then_load_gives_back_the_same_users_with_selectors_and_hashed_passwords()
    {
        var file = Path.Combine(Path.GetTempPath(), $"pgrelay-acl-{Guid.NewGuid():N}.acl");
        await File.WriteAllTextAsync(file, "user default on nopass ~* &* +@all\n");
        try
        {
            await using var server = await TestServer.StartAsync(new RespOptions { AclFile = file });
            using var admin = await RawClient.ConnectAsync(server.Port);
            Assert.Equal(new RespSimple("OK"), await admin.CommandAsync("ACL", "SETUSER", "app", "on", ">s3cret", "%R~pub.users.*", "+@read", "-hgetall", "+client|id", "(~pub.cities.* +hget)"));
            var before = await admin.CommandAsync("ACL", "LIST");
            Assert.Equal(new RespSimple("OK"), await admin.CommandAsync("ACL", "SAVE"));

            var saved = await File.ReadAllTextAsync(file);
            Assert.DoesNotContain("s3cret", saved);
            Assert.Contains("(~pub.cities.* resetchannels -@all +hget)", saved);

            Assert.Equal(new RespSimple("OK"), await admin.CommandAsync("ACL", "SETUSER", "app", "reset"));
            Assert.Equal(new RespSimple("OK"), await admin.CommandAsync("ACL", "LOAD"));
            Assert.True(RespPush.DeepEqual(before, await admin.CommandAsync("ACL", "LIST")));

            using var app = await RawClient.ConnectAsync(server.Port);
            Assert.Equal(new RespSimple("OK"), await app.CommandAsync("AUTH", "app", "s3cret"));
            Assert.Equal("Ada", await app.CommandAsync("HGET", "pub.users.1", "name"));
            Assert.Equal("OK", await app.CommandAsync("HGET", "pub.cities.Tulsa/OK", "state"));   // through the selector
            Assert.Equal(new RespError("NOPERM this user has no permissions to access one of the keys used as arguments"),
                await app.CommandAsync("HGET", "pub.other.1", "f"));
            Assert.Equal(new RespError("NOPERM this user has no permissions to run the 'hgetall' command"), await app.CommandAsync("HGETALL", "pub.users.1"));
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public async Task A_broken_file_is_refused_by_acl_load_and_the_old_users_stay()
    {
        var file = Path.Combine(Path.GetTempPath(), $"pgrelay-acl-{Guid.NewGuid():N}.acl");
        await File.WriteAllTextAsync(file, "user default on nopass ~* &* +@all\nuser a on nopass +@read\n");
        try
        {
            await using var server = await TestServer.StartAsync(new RespOptions { AclFile = file });
            using var admin = await RawClient.ConnectAsync(server.Port);
            await File.WriteAllTextAsync(file, "user default on nopass ~* &* +@all\nuser b on (~x* +get\n");
            var error = Assert.IsType<RespError>(await admin.CommandAsync("ACL", "LOAD"));
            Assert.Contains("Unmatched parenthesis", error.Message);
            await File.WriteAllTextAsync(file, "user default on nopass ~* &* +@all\nuser b on\nuser b off\n");
            Assert.Contains("Duplicate user 'b'", Assert.IsType<RespError>(await admin.CommandAsync("ACL", "LOAD")).Message);
            Assert.Equal(new object?[] { "a", "default" }, await admin.CommandAsync("ACL", "USERS"));
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public async Task Subscribers_are_disconnected_when_their_user_loses_the_channel()
    {
        await using var server = await TestServer.StartAsync();
        using var admin = await RawClient.ConnectAsync(server.Port);
        using var listener = await RawClient.ConnectAsync(server.Port);
        await admin.CommandAsync("ACL", "SETUSER", "l", "on", "nopass", "+@pubsub", "&news.*");
        await listener.CommandAsync("AUTH", "l", "x");
        Assert.Equal(new object?[] { "subscribe", "news.a", 1L }, await listener.CommandAsync("SUBSCRIBE", "news.a"));
        Assert.Equal(new RespSimple("OK"), await admin.CommandAsync("ACL", "SETUSER", "l", "resetchannels", "&other"));
        Assert.True(await listener.IsClosedAsync());
    }

    [Fact]
    public async Task Acl_save_into_an_unwritable_directory_answers_like_redis_and_keeps_the_connection()
    {
        var directory = Directory.CreateTempSubdirectory("pgrelay-acl-").FullName;
        var redisFile = Path.Combine(directory, "redis.acl");
        var pgrelayFile = Path.Combine(directory, "pgrelay.acl");
        await File.WriteAllTextAsync(redisFile, "user default on nopass ~* &* +@all\n");
        await File.WriteAllTextAsync(pgrelayFile, "user default on nopass ~* &* +@all\n");
        await using var redis = await RealRedis.StartAsync("--aclfile", redisFile);
        await using var pgrelay = await TestServer.StartAsync(new RespOptions { AclFile = pgrelayFile });
        using var expected = await RawClient.ConnectAsync(redis.Port);
        using var actual = await RawClient.ConnectAsync(pgrelay.Port);
        await using var unwritable = await UnwritableDirectory.MakeAsync(directory);
        var want = await expected.CommandAsync("ACL", "SAVE");
        Assert.IsType<RespError>(want);
        Assert.Equal(want, await actual.CommandAsync("ACL", "SAVE"));
        Assert.Equal(new RespSimple("PONG"), await actual.CommandAsync("PING"));
        Assert.Equal("user default on nopass ~* &* +@all\n", await File.ReadAllTextAsync(pgrelayFile));
    }

    /// <summary>
    /// A directory nobody may create files in, root included: the immutable attribute (tests run as root, where
    /// permission bits stop nothing). Removed again on dispose, and the directory deleted.
    /// </summary>
    private sealed class UnwritableDirectory(string path) : IAsyncDisposable
    {
        public static async Task<UnwritableDirectory> MakeAsync(string path)
        {
            await Chattr("+i", path);
            return new UnwritableDirectory(path);
        }

        private static async Task Chattr(string flag, string path)
        {
            using var process = System.Diagnostics.Process.Start("chattr", [flag, path])!;
            await process.WaitForExitAsync();
            Assert.True(process.ExitCode == 0, $"chattr {flag} {path} failed");
        }

        public async ValueTask DisposeAsync()
        {
            await Chattr("-i", path);
            Directory.Delete(path, recursive: true);
        }
    }
}
