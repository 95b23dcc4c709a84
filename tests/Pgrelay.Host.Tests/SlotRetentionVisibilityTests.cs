using System.Net;
using System.Text.Json;
using Npgsql;
using Pgrelay.Replication.Local;
using Pgrelay.Testing;

namespace Pgrelay.Host.Tests;

/// <summary>
/// The WAL a slot makes the server keep, seen the way an operator sees it: the real <c>pgrelay run</c> process, killed with
/// kill -9 (which leaves its slot), restarted, then held behind by a long transaction, against a real PostgreSQL; read
/// back through /status, /readyz, /metrics and redis-cli INFO.
/// </summary>
public class SlotRetentionVisibilityTests
{
    [Fact]
    public async Task WAL_held_while_down_or_behind_shows_on_status_readyz_metrics_and_INFO()
    {
        await using var cluster = await PrivatePostgresCluster.StartAsync();
        await Sql(cluster, "CREATE TABLE t (id int PRIMARY KEY, v text); CREATE PUBLICATION pub FOR TABLE t");
        int httpPort = FreeTcpPort.Next(), respPort = FreeTcpPort.Next();
        // The state directory keeps the slot's name, so the second run resumes the slot the first one left.
        var state = Directory.CreateTempSubdirectory("pgrelay-retention-").FullName;
        string[] args = ["run", "--state-dir", state, "--source", cluster.UrlFor("postgres"), "--publication", "pub", "--http", $"127.0.0.1:{httpPort}",
            "--resp", $"127.0.0.1:{respPort}", "--memcached", "off", "--heartbeat", "1s", "--slot-retention-warning", "1MB"];
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{httpPort}") };

        await using (var first = PgrelayProcess.Start(args))
        {
            await WaitReadyAsync(http, first);
            first.Kill9();   // the slot stays, and nobody reads it
        }
        long before = await WalPositionAsync(cluster);
        await Sql(cluster, "INSERT INTO t SELECT g, repeat('w', 200) FROM generate_series(1, 20000) g");
        long writtenWhileDown = await WalPositionAsync(cluster) - before;

        await using var second = PgrelayProcess.Start(args);
        await WaitReadyAsync(http, second);
        var retention = await SlotRetentionAsync(http);
        Assert.True(retention.GetProperty("retained_at_start_bytes").GetInt64() >= writtenWhileDown, retention.ToString());
        Assert.Equal(1 << 20, retention.GetProperty("warning_threshold_bytes").GetInt64());
        Assert.Contains("before this start", second.Output);

        // Behind: an open transaction holds the slot's restart_lsn while more WAL is written.
        await using var holder = new NpgsqlConnection(cluster.ConnectionString);
        await holder.OpenAsync();
        await using (var open = new NpgsqlCommand("BEGIN; INSERT INTO t VALUES (0, 'held open')", holder)) await open.ExecuteNonQueryAsync();
        await Sql(cluster, "INSERT INTO t SELECT g, repeat('w', 200) FROM generate_series(100001, 120000) g");
        // Readings come every 10 s: a generous bound.
        retention = await Eventually.Get(() => SlotRetentionAsync(http), r => r.GetProperty("warning").GetBoolean(), "the retention warning", 90);
        long retained = retention.GetProperty("retained_wal_bytes").GetInt64();
        Assert.True(retained > 1 << 20, retention.ToString());
        Assert.Equal("reserved", retention.GetProperty("wal_status").GetString());
        Assert.True(retention.GetProperty("slot_exists").GetBoolean());

        var ready = await http.GetAsync("/readyz");
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);   // the data served is still exact
        using (var readyJson = JsonDocument.Parse(await ready.Content.ReadAsStringAsync()))
        {
            Assert.True(readyJson.RootElement.GetProperty("slot_retention_warning").GetBoolean());
            Assert.Contains("slot-retention-warning", readyJson.RootElement.GetProperty("warning").GetString());
        }
        var metrics = await http.GetStringAsync("/metrics");
        Assert.Contains("pgrelay_slot_retention_warning 1", metrics);
        Assert.Matches(@"pgrelay_slot_retained_wal_bytes \d{7,}", metrics);
        Assert.Contains("pgrelay_slot_wal_status{status=\"reserved\"} 1", metrics);
        var info = await Tool.RunAsync("redis-cli", "-h", "127.0.0.1", "-p", $"{respPort}", "INFO", "replication");
        Assert.Contains("pgrelay_slot_retention_warning:1", info);
        Assert.Matches(@"pgrelay_slot_retained_wal_bytes:\d{7,}", info);
        Assert.Contains("pgrelay_slot_retained_at_start_bytes:", info);
        Assert.Single(System.Text.RegularExpressions.Regex.Matches(second.Output, "above slot-retention-warning"));

        // Caught up again: the transaction ends, a checkpoint logs the running transactions, the slot moves on.
        await using (var commit = new NpgsqlCommand("COMMIT", holder)) await commit.ExecuteNonQueryAsync();
        await Eventually.Get(async () =>
        {
            await Sql(cluster, "CHECKPOINT");
            return await SlotRetentionAsync(http);
        }, r => !r.GetProperty("warning").GetBoolean(), "the warning to clear", 120);
        Assert.Contains("pgrelay_slot_retention_warning:0", await Tool.RunAsync("redis-cli", "-h", "127.0.0.1", "-p", $"{respPort}", "INFO", "replication"));
        Assert.True(await second.StopAsync());
    }

    private static async Task WaitReadyAsync(HttpClient http, PgrelayProcess process) =>
        await Eventually.Get(async () =>
        {
            if (process.HasExited) throw new InvalidOperationException("pgrelay exited: " + process.Output);
            try { return (await http.GetAsync("/readyz")).StatusCode; }
            catch (HttpRequestException) { return HttpStatusCode.ServiceUnavailable; }
        }, s => s == HttpStatusCode.OK, "readiness", 120);

    private static async Task<JsonElement> SlotRetentionAsync(HttpClient http)
    {
        using var json = JsonDocument.Parse(await http.GetStringAsync("/status"));
        return json.RootElement.GetProperty("slot_retention").Clone();
    }

    private static async Task<long> WalPositionAsync(PrivatePostgresCluster cluster)
    {
        await using var conn = new NpgsqlConnection(cluster.ConnectionString);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand("SELECT (pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint", conn);
        return (long)(await cmd.ExecuteScalarAsync())!;
    }

    private static async Task Sql(PrivatePostgresCluster cluster, string sql)
    {
        await using var conn = new NpgsqlConnection(cluster.ConnectionString);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, conn);
        await cmd.ExecuteNonQueryAsync();
    }
}
