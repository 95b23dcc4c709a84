using Pgrelay.Sinks.Configuration;
using Pgrelay.Testing;
using StackExchange.Redis;

namespace Pgrelay.Sinks.Tests;

/// <summary>
/// A table removed from the publication (ALTER PUBLICATION … DROP TABLE) is gone from what pgrelay serves, and from
/// every sink: the redis-hash target deletes its hashes (the catalog no longer names the publications that held it, so
/// it deleted nothing before), the postgres mirror empties the table, documents get a truncate marked "unpublished".
/// </summary>
public abstract class UnpublishTests(PostgresFixture pg) : IDisposable
{
    public sealed class PG14(Postgres14Fixture pg) : UnpublishTests(pg), IClassFixture<Postgres14Fixture>;
    public sealed class PG15(PostgresFixture pg) : UnpublishTests(pg), IClassFixture<PostgresFixture>;
    public sealed class PG16(Postgres16Fixture pg) : UnpublishTests(pg), IClassFixture<Postgres16Fixture>;
    public sealed class PG17(Postgres17Fixture pg) : UnpublishTests(pg), IClassFixture<Postgres17Fixture>;
    public sealed class PG18(Postgres18Fixture pg) : UnpublishTests(pg), IClassFixture<Postgres18Fixture>;

    private readonly string _state = Directory.CreateTempSubdirectory("pgrelay-unpublish").FullName;

    [Fact]
    public async Task A_table_removed_from_the_publication_leaves_every_sink()
    {
        var source = await pg.NewDatabaseAsync("src");
        var target = await pg.NewDatabaseAsync("dst");
        await pg.ExecuteAsync(source, """
            CREATE TABLE gone (id int PRIMARY KEY, v text);
            CREATE TABLE kept (id int PRIMARY KEY, v text);
            CREATE TABLE sync_marker (id int PRIMARY KEY);
            CREATE PUBLICATION pub FOR TABLE gone, kept, sync_marker;
            INSERT INTO gone SELECT i, 'g' || i FROM generate_series(1, 20) i;
            INSERT INTO kept SELECT i, 'k' || i FROM generate_series(1, 5) i;
            """);
        await using var redis = await RedisServerProcess.StartAsync();
        var file = Path.Combine(_state, "events.jsonl");
        var config = Path.Combine(_state, "pgrelay.json");
        File.WriteAllText(config, $$"""
            {
              "sinks": {
                "file": { "type": "file", "path": "{{file}}" },
                "pg":   { "type": "postgres", "url": "{{pg.Cluster.UrlFor(target)}}" },
                "rh":   { "type": "redis-hash", "address": "{{redis.Address}}" }
              }
            }
            """);
        await using var rig = SinkRig.Start(pg, source, SinkSettingsParser.Parse(null, config, _state));
        await rig.SyncAsync();
        await pg.ExecuteAsync(source, "UPDATE gone SET v = 'changed' WHERE id = 1");
        await rig.SyncAsync();
        await using var client = await ConnectionMultiplexer.ConnectAsync(redis.Address);
        async Task<int> KeysAsync(string pattern)
        {
            int n = 0;
            await foreach (var _ in client.GetServers()[0].KeysAsync(pattern: pattern)) n++;
            return n;
        }
        Assert.Equal(20, await KeysAsync("pub.gone.*"));
        Assert.Equal(20, await pg.ScalarAsync<long>(target, "SELECT count(*) FROM public.gone"));

        await pg.ExecuteAsync(source, "ALTER PUBLICATION pub DROP TABLE gone");
        await rig.Replication.WaitAsync(() => rig.Store.Tables.All(t => t.KeyName != "gone"), "the table to leave the store");
        await rig.SyncAsync();

        Assert.Equal(0, await KeysAsync("pub.gone.*"));
        Assert.Equal(5, await KeysAsync("pub.kept.*"));
        Assert.Equal(0, await pg.ScalarAsync<long>(target, "SELECT count(*) FROM public.gone"));
        Assert.Equal(5, await pg.ScalarAsync<long>(target, "SELECT count(*) FROM public.kept"));
        var lines = File.ReadAllLines(file);
        Assert.Single(lines, l => l.Contains("\"op\":\"t\"") && l.Contains("\"table\":\"gone\"") && l.Contains("\"unpublished\":true"));
        Assert.True(rig.Sinks.Statuses.All(s => s.Failures == 0));
    }

    [Fact]
    public async Task A_table_leaving_one_publication_keeps_its_rows_in_the_other_and_joining_one_writes_them_there()
    {
        var source = await pg.NewDatabaseAsync("src");
        var target = await pg.NewDatabaseAsync("dst");
        await pg.ExecuteAsync(source, """
            CREATE TABLE t (id int PRIMARY KEY, v text);
            CREATE TABLE sync_marker (id int PRIMARY KEY);
            CREATE PUBLICATION pub FOR TABLE t, sync_marker;
            CREATE PUBLICATION pub2 FOR TABLE t;
            INSERT INTO t SELECT i, 'v' || i FROM generate_series(1, 12) i;
            """);
        await using var redis = await RedisServerProcess.StartAsync();
        var file = Path.Combine(_state, "events.jsonl");
        var config = Path.Combine(_state, "pgrelay.json");
        File.WriteAllText(config, $$"""
            {
              "sinks": {
                "file": { "type": "file", "path": "{{file}}" },
                "pg":   { "type": "postgres", "url": "{{pg.Cluster.UrlFor(target)}}" },
                "rh":   { "type": "redis-hash", "address": "{{redis.Address}}" }
              }
            }
            """);
        await using var rig = SinkRig.Start(pg, source, SinkSettingsParser.Parse(null, config, _state), configure: o =>
        {
            o.Publications = ["pub", "pub2"];
            o.PublicationPollInterval = TimeSpan.FromMilliseconds(200);
        });
        await rig.SyncAsync();
        await using var client = await ConnectionMultiplexer.ConnectAsync(redis.Address);
        async Task<SortedDictionary<string, string>> HashesAsync(string publication)
        {
            var hashes = new SortedDictionary<string, string>(StringComparer.Ordinal);
            await foreach (var key in client.GetServers()[0].KeysAsync(pattern: publication + ".t.*"))
                hashes[((string)key!)[(publication.Length + 1)..]] = string.Join(";", (await client.GetDatabase().HashGetAllAsync(key)).Select(e => $"{e.Name}={e.Value}").Order());
            return hashes;
        }
        bool Holds(string publication) => rig.Store.Publications.First(p => p.Name == publication).Tables.Any(t => t.KeyName == "t");
        Assert.Equal(12, (await HashesAsync("pub2")).Count);
        Assert.Equal(await HashesAsync("pub"), await HashesAsync("pub2"));

        await pg.ExecuteAsync(source, "ALTER PUBLICATION pub2 DROP TABLE t");
        await rig.Replication.WaitAsync(() => !Holds("pub2"), "t to leave pub2");
        await pg.ExecuteAsync(source, "UPDATE t SET v = 'after' WHERE id = 1");
        await rig.SyncAsync();
        Assert.Empty(await HashesAsync("pub2"));
        var held = await HashesAsync("pub");
        Assert.Equal(12, held.Count);
        Assert.Equal("id=1;v=after", held["t.1"]);
        Assert.Equal(12, await pg.ScalarAsync<long>(source, "SELECT count(*) FROM t"));
        Assert.Equal(await pg.RowsAsync(source, "t", "id"), await pg.RowsAsync(target, "public.t", "id"));   // still published: not emptied

        await pg.ExecuteAsync(source, "ALTER PUBLICATION pub2 ADD TABLE t");
        await rig.Replication.WaitAsync(() => Holds("pub2"), "t to join pub2 again");
        await rig.SyncAsync();
        Assert.Equal(await HashesAsync("pub"), await HashesAsync("pub2"));
        Assert.Equal(12, (await HashesAsync("pub2")).Count);
        Assert.Equal(await pg.RowsAsync(source, "t", "id"), await pg.RowsAsync(target, "public.t", "id"));
        Assert.True(rig.Sinks.Statuses.All(s => s.Failures == 0));
    }

    public void Dispose() => Directory.Delete(_state, recursive: true);
}
