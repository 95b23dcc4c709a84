using System.Net;
using System.Text.Json;
using Pgrelay.Core.Model;
using Pgrelay.Testing;

namespace Pgrelay.Sinks.Tests;

/// <summary>
/// Publication changes while pgrelay is down (killed with -9), then a restart on the kept slot. PostgreSQL streams nothing
/// of a table while it is out of the publication, so replaying the slot from the sinks' checkpoints cannot give them what
/// the new snapshot holds: the differential test saw the postgres and file sinks miss whole transactions (issue 10, seed 1
/// with Kill9, Ddl and PublicationChanges).
/// </summary>
public abstract class PublicationChangeWhileDownTests(PostgresFixture pg) : CrashTestBase(pg)
{
    public sealed class PG15(PostgresFixture pg) : PublicationChangeWhileDownTests(pg), IClassFixture<PostgresFixture>;
    public sealed class PG18(Postgres18Fixture pg) : PublicationChangeWhileDownTests(pg), IClassFixture<Postgres18Fixture>;

    /// <summary>With <paramref name="checkpoints"/>, the restart has a store checkpoint at K to resume from instead of a
    /// snapshot: the same changes make it useless. <paramref name="partitionOnly"/>: only a partition is attached while
    /// down (publish_via_partition_root), which changes neither the publications' tables nor their membership tokens: the
    /// root's rows change with nothing in the stream.</summary>
    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    [InlineData(true, true)]
    public async Task A_table_removed_and_added_again_a_table_added_and_a_partition_attached_while_pgrelay_was_down_reach_cache_and_sink_whole(bool checkpoints, bool partitionOnly)
    {
        var source = await Pg.NewDatabaseAsync("src");
        var target = await Pg.NewDatabaseAsync("dst");
        await Pg.ExecuteAsync(source, """
            CREATE TABLE items (id int PRIMARY KEY, v int NOT NULL);
            CREATE TABLE extra (id int PRIMARY KEY, v int NOT NULL);
            CREATE TABLE sync_marker (id int PRIMARY KEY);
            CREATE TABLE parts (id int PRIMARY KEY, v int NOT NULL) PARTITION BY RANGE (id);
            CREATE TABLE parts_1 PARTITION OF parts FOR VALUES FROM (1) TO (100);
            CREATE TABLE parts_2 (id int PRIMARY KEY, v int NOT NULL);
            CREATE PUBLICATION pub FOR TABLE items, sync_marker, parts WITH (publish_via_partition_root = true);
            INSERT INTO items SELECT i, 0 FROM generate_series(1, 200) i;
            INSERT INTO extra SELECT i, 0 FROM generate_series(1, 50) i;
            INSERT INTO parts SELECT i, 0 FROM generate_series(1, 20) i;
            """);
        int http = FreeTcpPort.Next();
        string[] args =
        [
            "run", "--source", Pg.Cluster.UrlFor(source), "--publication", "pub", "--sink", $"postgres:{Pg.Cluster.UrlFor(target)}",
            "--state-dir", State, "--cache-servers", "off", "--http", $"127.0.0.1:{http}", "--heartbeat", "1s", "--log-level", "Debug",
            "--checkpoint-interval", checkpoints ? "1s" : "0",
        ];

        var first = PgrelayProcess.Start(args);
        string firstOutput;
        try
        {
            // Streaming live, with a checkpoint past the initial load: the restart resumes on the kept slot.
            await Pg.ExecuteAsync(source, "UPDATE items SET v = 1 WHERE id = 1");
            await WaitForTargetRowsAsync(target, first, "SELECT count(*) FROM items WHERE v = 1");
            if (checkpoints) await WaitForStoreCheckpointAsync(http, first);
            await WaitForCheckpointAtSlotAsync(source, first);
        }
        finally
        {
            first.Kill9();
            firstOutput = first.Output;
        }

        // While pgrelay is down: items leaves the publication, changes, and comes back with extra, which held rows before.
        // Each its own transaction (one command would run them all in one).
        string[] partition =
        [
            "INSERT INTO parts_2 SELECT i, 4 FROM generate_series(100, 110) i",
            "ALTER TABLE parts ATTACH PARTITION parts_2 FOR VALUES FROM (100) TO (200)",
            "UPDATE parts SET v = 5 WHERE id IN (1, 100)",
        ];
        foreach (var sql in partitionOnly ? partition : (string[])
                 [
                     "UPDATE items SET v = 9 WHERE id = 2",
                     "ALTER PUBLICATION pub DROP TABLE items",
                     "UPDATE items SET v = 2 WHERE id <= 100",
                     "DELETE FROM items WHERE id > 190",
                     "INSERT INTO items VALUES (1000, 2)",
                     "ALTER PUBLICATION pub ADD TABLE items, extra",
                     "UPDATE items SET v = 3 WHERE id = 5",
                     "INSERT INTO extra VALUES (1000, 3)",
                     ..partition,
                 ])
            await Pg.ExecuteAsync(source, sql);

        await using var second = PgrelayProcess.Start(args);
        // Written after the snapshot, so that it reaches the sink as a transaction of its own after whatever is replayed.
        await WaitForReadyAsync(second, http);
        await Pg.ExecuteAsync(source, "INSERT INTO sync_marker VALUES (1)");
        await WaitForSinkPastMarkerAsync(second, http);

        foreach (var table in partitionOnly ? ["items", "parts"] : new[] { "items", "extra", "parts" })
        {
            var expected = await Pg.RowsAsync(source, table, "id");
            List<string> actual;
            try { actual = await Pg.RowsAsync(target, "public." + table, "id"); }
            catch (Npgsql.PostgresException) { actual = []; }
            Assert.True(expected.SequenceEqual(actual),
                $"sink {table}: {Diff(expected, actual)}\n--- first run ---\n{Tail(firstOutput)}\n--- second run ---\n{Tail(second.Output)}");
            var truth = await Pg.ScalarAsync<string>(source, $"SELECT coalesce(string_agg(id || ',' || v, ';' ORDER BY id), '') FROM {table}");
            // The listing's key index may lag a second behind keys just added: a short hang guard, not a timing assertion.
            string served = "";
            for (var until = DateTime.UtcNow + TimeSpan.FromSeconds(10); DateTime.UtcNow < until; await Task.Delay(200))
                if ((served = await ServedAsync(http, table)) == truth) break;
            Assert.True(served == truth, $"cache {table}: served {served}\nPostgreSQL {truth}\n--- second run ---\n{Tail(second.Output)}");
        }
    }

    /// <summary>
    /// A table removed from the publication while pgrelay is down is not held by the restarted store, and the sinks start
    /// over from its snapshot (the tables held changed). Their loads cleared only the tables held now, so what the sinks
    /// had written of the removed table stayed: the file's consumer kept its rows, and once the table was added back its
    /// current rows came on top of them (issue 10, the differential test's seed 4, file sink); the postgres mirror and the
    /// redis hashes kept the rows deleted meanwhile. Each sink remembers the tables it wrote, and a load clears them too.
    /// </summary>
    [Fact]
    public async Task A_table_removed_while_pgrelay_was_down_and_added_back_ends_exact_in_every_sink()
    {
        var source = await Pg.NewDatabaseAsync("src");
        var target = await Pg.NewDatabaseAsync("dst");
        await Pg.ExecuteAsync(source, """
            CREATE TABLE items (id int PRIMARY KEY, v int NOT NULL);
            CREATE TABLE sync_marker (id int PRIMARY KEY);
            CREATE PUBLICATION pub FOR TABLE items, sync_marker;
            INSERT INTO items SELECT i, 0 FROM generate_series(1, 50) i;
            """);
        await using var redis = await RedisServerProcess.StartAsync();
        var file = Path.Combine(State, "events.jsonl");
        var config = Path.Combine(State, "pgrelay.json");
        File.WriteAllText(config, $$"""
            {
              "sinks": {
                "postgres": { "type": "postgres", "url": "{{Pg.Cluster.UrlFor(target)}}" },
                "file": { "type": "file", "path": "{{file}}" },
                "rh": { "type": "redis-hash", "address": "{{redis.Address}}" }
              }
            }
            """);
        int http = FreeTcpPort.Next();
        string[] args =
        [
            "run", "--source", Pg.Cluster.UrlFor(source), "--publication", "pub", "--config", config, "--state-dir", State,
            "--cache-servers", "off", "--http", $"127.0.0.1:{http}", "--heartbeat", "1s", "--log-level", "Debug", "--publication-poll", "1s",
        ];

        var first = PgrelayProcess.Start(args);
        string firstOutput;
        try
        {
            await WaitForReadyAsync(first, http);
            await Pg.ExecuteAsync(source, "INSERT INTO sync_marker VALUES (1)");
            await WaitForSinkPastMarkerAsync(first, http, 1);   // every sink holds the 50 rows
        }
        finally
        {
            first.Kill9();
            firstOutput = first.Output;
        }

        // While pgrelay is down, items leaves the publication and changes: the restart does not hold it.
        foreach (var sql in (string[])
                 [
                     "ALTER PUBLICATION pub DROP TABLE items",
                     "DELETE FROM items WHERE id > 40",
                     "UPDATE items SET v = 2 WHERE id <= 5",
                 ])
            await Pg.ExecuteAsync(source, sql);

        await using var second = PgrelayProcess.Start(args);
        await WaitForReadyAsync(second, http);
        await Pg.ExecuteAsync(source, "INSERT INTO sync_marker VALUES (2)");
        await WaitForSinkPastMarkerAsync(second, http, 2);   // the sinks' loads are done
        // Added back at runtime: loaded beside the stream, which writes its rows as inserts (the store did not hold it).
        await Pg.ExecuteAsync(source, "ALTER PUBLICATION pub ADD TABLE items");
        var truth = await Pg.ScalarAsync<string>(source, "SELECT coalesce(string_agg(id || ',' || v, ';' ORDER BY id), '') FROM items");
        string served = "";
        for (var until = DateTime.UtcNow + TimeSpan.FromMinutes(2); DateTime.UtcNow < until; await Task.Delay(200))   // hang guard
        {
            try { served = await ServedAsync(http, "items"); }
            catch (HttpRequestException) { continue; }   // not published yet: 404
            if (served == truth) break;
        }
        Assert.True(served == truth, $"cache items: served {served}\nPostgreSQL {truth}\n{Tail(second.Output)}");
        await Pg.ExecuteAsync(source, "INSERT INTO sync_marker VALUES (3)");
        await WaitForSinkPastMarkerAsync(second, http, 3);

        var context = $"\n--- first run ---\n{Tail(firstOutput)}\n--- second run ---\n{Tail(second.Output)}";
        var expected = await Pg.RowsAsync(source, "items", "id");
        var mirrored = await Pg.RowsAsync(target, "public.items", "id");
        var wrong = new List<string>();   // every sink's verdict at once
        if (!expected.SequenceEqual(mirrored)) wrong.Add($"postgres sink: {Diff(expected, mirrored)}");
        if (FileConsumerState(file, "items") is var consumed && consumed != truth) wrong.Add($"file sink's consumer holds {consumed}");
        var hashes = new SortedDictionary<string, string>(StringComparer.Ordinal);
        await using (var client = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(redis.Address))
            await foreach (var key in client.GetServers()[0].KeysAsync(pattern: "pub.items.*", pageSize: 1000))
            {
                var fields = (await client.GetDatabase().HashGetAllAsync(key)).ToDictionary(e => (string)e.Name!, e => (string)e.Value!);
                hashes[key!] = $"{fields.GetValueOrDefault("id")},{fields.GetValueOrDefault("v")}";
            }
        if (string.Join(';', hashes.Values.OrderBy(r => int.Parse(r.Split(',')[0]))) is var hashed && hashed != truth)
            wrong.Add($"redis-hash sink holds {hashed}");
        Assert.True(wrong.Count == 0, $"PostgreSQL holds {truth}\n{string.Join('\n', wrong)}{context}");
        Assert.All(hashes, h => Assert.Equal("pub.items." + h.Value.Split(',')[0], h.Key));
        // The second run's load told the file's consumer that items was gone: a snapshot truncate marked unpublished.
        Assert.Contains(CompleteLines(file), l => l.Contains("\"op\":\"t\"") && l.Contains("\"table\":\"items\"") &&
            l.Contains("\"snapshot\":true") && l.Contains("\"unpublished\":true"));
    }

    /// <summary>
    /// The redis-hash sink writes a table's rows under each publication holding it. A table that left one of two
    /// publications while pgrelay was down is held by the restarted store under the other only, so the sink's load (it
    /// starts over: the membership changed) cleared only that one's hashes and kept the rows of the one it left. The
    /// sink remembers the publications it wrote a table under, and its load deletes those hashes too.
    /// </summary>
    [Fact]
    public async Task A_publication_a_table_left_while_pgrelay_was_down_loses_its_hashes()
    {
        var source = await Pg.NewDatabaseAsync("src");
        await Pg.ExecuteAsync(source, """
            CREATE TABLE t (id int PRIMARY KEY, v int NOT NULL);
            CREATE TABLE other (id int PRIMARY KEY);
            CREATE TABLE sync_marker (id int PRIMARY KEY);
            CREATE PUBLICATION pub FOR TABLE t, sync_marker;
            CREATE PUBLICATION pub2 FOR TABLE t, other;
            INSERT INTO t SELECT i, 0 FROM generate_series(1, 12) i;
            """);
        await using var redis = await RedisServerProcess.StartAsync();
        int http = FreeTcpPort.Next();
        string[] args =
        [
            "run", "--source", Pg.Cluster.UrlFor(source), "--publication", "pub,pub2", "--sink", $"redis-hash:{redis.Address}",
            "--state-dir", State, "--cache-servers", "off", "--http", $"127.0.0.1:{http}", "--heartbeat", "1s", "--log-level", "Debug",
        ];
        async Task<string> HashesAsync(string publication)
        {
            await using var client = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(redis.Address);
            var rows = new SortedDictionary<int, string>();
            await foreach (var key in client.GetServers()[0].KeysAsync(pattern: publication + ".t.*"))
            {
                var fields = (await client.GetDatabase().HashGetAllAsync(key)).ToDictionary(e => (string)e.Name!, e => (string)e.Value!);
                rows[int.Parse(fields["id"])] = $"{fields["id"]},{fields.GetValueOrDefault("v")}";
            }
            return string.Join(';', rows.Values);
        }

        var first = PgrelayProcess.Start(args);
        string firstOutput;
        try
        {
            await WaitForReadyAsync(first, http);
            await Pg.ExecuteAsync(source, "INSERT INTO sync_marker VALUES (1)");
            await WaitForSinkPastMarkerAsync(first, http, 1);
        }
        finally
        {
            first.Kill9();
            firstOutput = first.Output;
        }
        Assert.Equal(await HashesAsync("pub"), await HashesAsync("pub2"));
        Assert.NotEqual("", await HashesAsync("pub2"));

        await Pg.ExecuteAsync(source, "ALTER PUBLICATION pub2 DROP TABLE t");
        await Pg.ExecuteAsync(source, "UPDATE t SET v = 1 WHERE id <= 3");

        await using var second = PgrelayProcess.Start(args);
        await WaitForReadyAsync(second, http);
        await Pg.ExecuteAsync(source, "INSERT INTO sync_marker VALUES (2)");
        await WaitForSinkPastMarkerAsync(second, http, 2);
        var context = $"\n--- first run ---\n{Tail(firstOutput)}\n--- second run ---\n{Tail(second.Output)}";
        var truth = await Pg.ScalarAsync<string>(source, "SELECT string_agg(id || ',' || v, ';' ORDER BY id) FROM t");
        Assert.True(await HashesAsync("pub") == truth, "pub's hashes differ from the table" + context);
        Assert.True(await HashesAsync("pub2") == "", "pub2's hashes of t were kept" + context);
    }

    /// <summary>The rows of <paramref name="table"/> (<c>id,v;…</c> in id order) that a consumer applying the file's events
    /// in order holds: a truncate empties the table, a delete removes the key, every other row event sets it.</summary>
    private static string FileConsumerState(string file, string table)
    {
        var rows = new SortedDictionary<int, string>();
        foreach (var line in CompleteLines(file))
        {
            using var json = JsonDocument.Parse(line);
            var e = json.RootElement;
            if (!e.TryGetProperty("table", out var name) || name.GetString() != table) continue;
            switch (e.GetProperty("op").GetString())
            {
                case "t":
                    rows.Clear();
                    break;
                case "d":
                    rows.Remove(e.GetProperty("before").GetProperty("id").GetInt32());
                    break;
                default:
                    if (e.GetProperty("before") is { ValueKind: JsonValueKind.Object } before) rows.Remove(before.GetProperty("id").GetInt32());
                    var after = e.GetProperty("after");
                    rows[after.GetProperty("id").GetInt32()] = $"{after.GetProperty("id").GetInt32()},{after.GetProperty("v").GetInt32()}";
                    break;
            }
        }
        return string.Join(';', rows.Values);
    }

    /// <summary>The file's complete lines, read while pgrelay may be appending.</summary>
    private static List<string> CompleteLines(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        var lines = new StreamReader(stream).ReadToEnd().Split('\n');
        return [.. lines.Take(lines.Length - 1).Where(l => l.Length > 0)];
    }

    /// <summary>
    /// The case at hand is a restart that resumes the kept slot. It does when the sink's checkpoint is not behind the slot
    /// (an idle slot is confirmed at the server's position, and the caught-up sink follows it a moment later).
    /// </summary>
    private async Task WaitForCheckpointAtSlotAsync(string source, PgrelayProcess process)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(2);
        var file = Path.Combine(State, "postgres.checkpoint");
        while (true)
        {
            Assert.False(process.HasExited, process.Output);
            if (DateTime.UtcNow > deadline) throw new TimeoutException("the sink's checkpoint stayed behind the slot\n" + Tail(process.Output));
            var slot = new Lsn((ulong)await Pg.ScalarAsync<NpgsqlTypes.NpgsqlLogSequenceNumber>(source,
                "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE database = current_database() AND NOT temporary"));
            try
            {
                // No end_lsn: a load under way (the file lists the tables it writes).
                if (File.Exists(file) && JsonDocument.Parse(File.ReadAllText(file)).RootElement.TryGetProperty("end_lsn", out var end) &&
                    Lsn.Parse(end.GetString()!) >= slot)
                    return;
            }
            catch (Exception e) when (e is IOException or JsonException) { }   // being replaced
            await Task.Delay(100);
        }
    }

    /// <summary>Waits (hang guard only) until the store wrote a checkpoint past the live update: the restart can resume from it.</summary>
    private static async Task WaitForStoreCheckpointAsync(int port, PgrelayProcess process)
    {
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(30) };
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(2);
        using (var row = await http.GetAsync("/pub/items/1"))
        {
            var applied = Lsn.Parse(row.Headers.ETag!.Tag.Trim('"'));
            while (true)
            {
                Assert.False(process.HasExited, process.Output);
                if (DateTime.UtcNow > deadline) throw new TimeoutException("no store checkpoint was written\n" + Tail(process.Output));
                using var status = JsonDocument.Parse(await http.GetStringAsync("/status"));
                if (Lsn.Parse(status.RootElement.GetProperty("checkpoints").GetProperty("last_lsn").GetString()!) >= applied) return;
                await Task.Delay(100);
            }
        }
    }

    /// <summary>The rows the cache serves for <paramref name="table"/> (HTTP's listing) as <c>id,v;…</c> in id order.</summary>
    private static async Task<string> ServedAsync(int port, string table)
    {
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(30) };
        using var page = JsonDocument.Parse(await http.GetStringAsync($"/pub/{table}?limit=1000"));
        return string.Join(';', page.RootElement.GetProperty("rows").EnumerateArray()
            .Select(r => (Id: r.GetProperty("id").GetInt32(), V: r.GetProperty("v").GetInt32())).OrderBy(r => r.Id).Select(r => $"{r.Id},{r.V}"));
    }

    private static async Task WaitForReadyAsync(PgrelayProcess process, int port)
    {
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(30) };
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(2);
        while (true)
        {
            Assert.False(process.HasExited, process.Output);
            if (DateTime.UtcNow > deadline) throw new TimeoutException("pgrelay did not become ready\n" + Tail(process.Output));
            try
            {
                using var ready = await http.GetAsync("/readyz");
                if (ready.StatusCode == HttpStatusCode.OK) return;
            }
            catch (HttpRequestException) { }   // not listening yet
            await Task.Delay(100);
        }
    }

    /// <summary>Waits (hang guard only) until the cache holds the marker and the sink's checkpoint reached its version: the
    /// sink then has every transaction before it, or a whole load taken after it.</summary>
    private static async Task WaitForSinkPastMarkerAsync(PgrelayProcess process, int port, int id = 1)
    {
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(30) };
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(2);
        Lsn? marker = null;
        while (true)
        {
            Assert.False(process.HasExited, process.Output);
            if (DateTime.UtcNow > deadline) throw new TimeoutException("the sink did not reach the marker\n" + Tail(process.Output));
            await Task.Delay(100);
            try
            {
                if (marker is null)
                {
                    using var row = await http.GetAsync($"/pub/sync_marker/{id}");
                    if (row.StatusCode == HttpStatusCode.OK) marker = Lsn.Parse(row.Headers.ETag!.Tag.Trim('"'));
                    continue;
                }
                using var status = JsonDocument.Parse(await http.GetStringAsync("/status"));
                var checkpoint = status.RootElement.GetProperty("sinks").GetProperty("checkpoints").EnumerateArray()
                    .Select(c => Lsn.Parse(c.GetProperty("acknowledged_lsn").GetString()!)).DefaultIfEmpty(Lsn.Zero).Min();
                if (checkpoint >= marker.Value) return;
            }
            catch (HttpRequestException) { }   // not listening yet
        }
    }
}
