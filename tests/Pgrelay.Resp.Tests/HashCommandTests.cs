using Pgrelay.Core.Changes;

namespace Pgrelay.Resp.Tests;

public sealed class HashCommandTests
{
    [Fact]
    public async Task Rows_read_as_hashes_and_null_columns_are_not_fields()
    {
        await using var server = await TestServer.StartAsync();
        using var c = await RawClient.ConnectAsync(server.Port);

        Assert.Equal(new object?[] { "id", "1", "name", "Ada" }, await c.CommandAsync("HGETALL", "pub.users.1"));
        Assert.Equal("Ada", await c.CommandAsync("HGET", "pub.users.1", "name"));
        Assert.Null(await c.CommandAsync("HGET", "pub.users.1", "email"));
        Assert.Null(await c.CommandAsync("HGET", "pub.users.1", "nosuch"));
        Assert.Equal(new object?[] { "Ada", null, "1" }, await c.CommandAsync("HMGET", "pub.users.1", "name", "email", "id"));
        Assert.Equal(0L, await c.CommandAsync("HEXISTS", "pub.users.1", "email"));
        Assert.Equal(1L, await c.CommandAsync("HEXISTS", "pub.users.2", "email"));
        Assert.Equal(new object?[] { "id", "name" }, await c.CommandAsync("HKEYS", "pub.users.1"));
        Assert.Equal(new object?[] { "1", "Ada" }, await c.CommandAsync("HVALS", "pub.users.1"));
        Assert.Equal(2L, await c.CommandAsync("HLEN", "pub.users.1"));
        Assert.Equal(3L, await c.CommandAsync("HLEN", "pub.users.2"));
        Assert.Equal(17L, await c.CommandAsync("HSTRLEN", "pub.users.2", "email"));
        Assert.Equal(0L, await c.CommandAsync("HSTRLEN", "pub.users.1", "email"));
    }

    [Fact]
    public async Task Missing_keys_read_as_empty_and_keyspace_commands_answer_like_redis()
    {
        await using var server = await TestServer.StartAsync();
        using var c = await RawClient.ConnectAsync(server.Port);

        Assert.Equal(Array.Empty<object?>(), await c.CommandAsync("HGETALL", "pub.users.999"));
        Assert.Equal(Array.Empty<object?>(), await c.CommandAsync("HGETALL", "nopub.users.1"));
        Assert.Null(await c.CommandAsync("HGET", "pub.users.999", "name"));
        Assert.Equal(0L, await c.CommandAsync("HLEN", "pub.users.999"));
        Assert.Equal(new RespSimple("hash"), await c.CommandAsync("TYPE", "pub.users.1"));
        Assert.Equal(new RespSimple("none"), await c.CommandAsync("TYPE", "pub.users.999"));
        Assert.Equal(3L, await c.CommandAsync("EXISTS", "pub.users.1", "pub.users.2", "pub.users.999", "pub.cities.Tulsa/OK"));
        Assert.Equal(-1L, await c.CommandAsync("TTL", "pub.users.1"));
        Assert.Equal(-2L, await c.CommandAsync("PTTL", "pub.users.999"));
        Assert.Equal(5L, await c.CommandAsync("DBSIZE"));
        Assert.IsType<long>(await c.CommandAsync("MEMORY", "USAGE", "pub.users.1"));
        Assert.Null(await c.CommandAsync("MEMORY", "USAGE", "pub.users.999"));
        Assert.Null(await c.CommandAsync("GET", "pub.users.999"));
        Assert.Equal(new RespError("WRONGTYPE Operation against a key holding the wrong kind of value"), await c.CommandAsync("GET", "pub.users.1"));
        Assert.Equal(new RespSimple("OK"), await c.CommandAsync("SELECT", "0"));
        Assert.Equal(new RespError("ERR DB index is out of range"), await c.CommandAsync("SELECT", "1"));
        Assert.Equal(new RespSimple("PONG"), await c.CommandAsync("PING"));
        Assert.Equal("hi", await c.CommandAsync("ECHO", "hi"));
    }

    [Fact]
    public async Task Composite_keys_join_key_columns_with_a_slash()
    {
        await using var server = await TestServer.StartAsync();
        using var c = await RawClient.ConnectAsync(server.Port);

        Assert.Equal("413066", await c.CommandAsync("HGET", "pub.cities.Tulsa/OK", "population"));
        Assert.Equal("Resurgam", await c.CommandAsync("HGET", "pub.cities.Portland/ME", "motto"));
        Assert.Equal(new object?[] { "name", "Portland", "state", "OR", "population", "652503" }, await c.CommandAsync("HGETALL", "pub.cities.Portland/OR"));
        Assert.Equal(0L, await c.CommandAsync("EXISTS", "pub.cities.Portland"));
    }

    [Fact]
    public async Task Live_changes_are_visible_once_committed()
    {
        await using var server = await TestServer.StartAsync();
        using var c = await RawClient.ConnectAsync(server.Port);

        server.Apply(new RowChange(ChangeKind.Insert, TestServer.Users, TestServer.Row("3", "Linus", "linus@example.com")),
            new RowChange(ChangeKind.Delete, TestServer.Users, OldRow: TestServer.Row("2", null, null)));
        Assert.Equal("Linus", await c.CommandAsync("HGET", "pub.users.3", "name"));
        Assert.Equal(0L, await c.CommandAsync("EXISTS", "pub.users.2"));
    }

    [Fact]
    public async Task Hscan_returns_the_whole_row_with_cursor_zero()
    {
        await using var server = await TestServer.StartAsync();
        using var c = await RawClient.ConnectAsync(server.Port);

        Assert.Equal(new object?[] { "0", new object?[] { "id", "2", "name", "Grace", "email", "grace@example.com" } }, await c.CommandAsync("HSCAN", "pub.users.2", "0"));
        Assert.Equal(new object?[] { "0", new object?[] { "name", "Grace" } }, await c.CommandAsync("HSCAN", "pub.users.2", "0", "MATCH", "n*"));
        Assert.Equal(new object?[] { "0", new object?[] { "id", "name", "email" } }, await c.CommandAsync("HSCAN", "pub.users.2", "0", "NOVALUES"));
        Assert.Equal(new RespError("ERR invalid cursor"), await c.CommandAsync("HSCAN", "pub.users.2", "x"));
    }

    [Fact]
    public async Task Writes_are_refused_with_a_readonly_error_naming_pgrelay()
    {
        await using var server = await TestServer.StartAsync();
        using var c = await RawClient.ConnectAsync(server.Port);

        foreach (var command in new[] { new[] { "HSET", "pub.users.1", "name", "x" }, ["DEL", "pub.users.1"], ["SET", "a", "b"], ["EXPIRE", "pub.users.1", "10"], ["FLUSHALL"] })
        {
            var reply = Assert.IsType<RespError>(await c.CommandAsync(command));
            Assert.StartsWith("READONLY pgrelay serves a read-only replica of PostgreSQL", reply.Message);
        }
        Assert.Equal("Ada", await c.CommandAsync("HGET", "pub.users.1", "name"));
    }

    [Fact]
    public async Task Hello_3_switches_to_resp3_maps_and_nulls()
    {
        await using var server = await TestServer.StartAsync();
        using var c = await RawClient.ConnectAsync(server.Port);

        var hello = Assert.IsType<RespMap>(await c.CommandAsync("HELLO", "3"));
        Assert.Equal("redis", hello["server"]);
        Assert.Equal(3L, hello["proto"]);
        Assert.Equal("standalone", hello["mode"]);
        Assert.Equal("master", hello["role"]);
        Assert.IsType<long>(hello["id"]);
        Assert.Equal(Array.Empty<object?>(), hello["modules"]);

        var row = Assert.IsType<RespMap>(await c.CommandAsync("HGETALL", "pub.users.1"));
        Assert.Equal("Ada", row["name"]);
        Assert.Equal(2, row.Entries.Count);
        await c.SendAsync("HGET", "pub.users.1", "email");
        Assert.Null(await c.ReadAsync());

        Assert.Equal(new RespError("NOPROTO unsupported protocol version"), await c.CommandAsync("HELLO", "4"));
        Assert.IsType<object?[]>(await c.CommandAsync("HELLO", "2"));
    }

    [Fact]
    public async Task Info_reports_keyspace_and_replication()
    {
        await using var server = await TestServer.StartAsync();
        using var c = await RawClient.ConnectAsync(server.Port);

        var info = Assert.IsType<string>(await c.CommandAsync("INFO"));
        Assert.Contains("# Server\r\n", info);
        Assert.Contains("db0:keys=5,expires=0,avg_ttl=0", info);
        Assert.Contains("pgrelay_slot:pgrelay_test", info);
        Assert.Contains("pgrelay_visible_lsn:0/3E8", info);
        var keyspace = Assert.IsType<string>(await c.CommandAsync("INFO", "keyspace"));
        Assert.StartsWith("# Keyspace", keyspace);
        Assert.DoesNotContain("# Server", keyspace);
    }
}

public sealed class JsonGetTests
{
    [Fact]
    public async Task Json_get_renders_rows_with_types_and_nulls()
    {
        await using var server = await TestServer.StartAsync();
        using var c = await RawClient.ConnectAsync(server.Port);

        Assert.Equal("{\"id\":1,\"name\":\"Ada\",\"email\":null}", await c.CommandAsync("JSON.GET", "pub.users.1"));
        Assert.Equal("[{\"id\":1,\"name\":\"Ada\",\"email\":null}]", await c.CommandAsync("JSON.GET", "pub.users.1", "$"));
        Assert.Equal("413066", await c.CommandAsync("JSON.GET", "pub.cities.Tulsa/OK", ".population"));
        Assert.Equal("[\"Tulsa\"]", await c.CommandAsync("JSON.GET", "pub.cities.Tulsa/OK", "$.name"));
        Assert.Null(await c.CommandAsync("JSON.GET", "pub.users.999"));
    }
}
