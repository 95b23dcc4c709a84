using System.Net;
using System.Text.Json;
using Npgsql;
using Pgrelay.Replication.Local;
using Pgrelay.Testing;

namespace Pgrelay.Host.Tests;

/// <summary>What the checkpoint tests with the real process share: SQL on the source, /status and /readyz, and the
/// served rows of table t (id, v, n) compared with PostgreSQL's own.</summary>
internal static class CheckpointRig
{
    internal static async Task AssertServedEqualsSourceAsync(HttpClient http, PrivatePostgresCluster cluster, PgrelayProcess process)
    {
        var expected = new Dictionary<int, (string?, int?)>();
        await using (var conn = new NpgsqlConnection(cluster.ConnectionString))
        {
            await conn.OpenAsync();
            await using var cmd = new NpgsqlCommand("SELECT id, v, n FROM t", conn);
            await using var reader = await cmd.ExecuteReaderAsync();
            while (await reader.ReadAsync())
                expected[reader.GetInt32(0)] = (reader.IsDBNull(1) ? null : reader.GetString(1), reader.IsDBNull(2) ? null : reader.GetInt32(2));
        }
        // The paging index is rebuilt at most once a second: read until it agrees (or the bound runs out, with the difference).
        Dictionary<int, (string?, int?)> served = [];
        try
        {
            await Eventually.True(async () =>
            {
                Assert.False(process.HasExited, process.Output);
                served = await ServedAsync(http);
                return served.Count == expected.Count && expected.All(e => served.TryGetValue(e.Key, out var s) && s == e.Value);
            }, "the served rows to equal the source's", 60);
        }
        catch (TimeoutException)
        {
            Assert.Fail($"served {served.Count} rows, the source has {expected.Count}; first difference: " +
                        expected.FirstOrDefault(e => !served.TryGetValue(e.Key, out var s) || s != e.Value));
        }
    }

    internal static async Task<Dictionary<int, (string?, int?)>> ServedAsync(HttpClient http)
    {
        var rows = new Dictionary<int, (string?, int?)>();
        string? after = null;
        do
        {
            var url = "/pub/t?limit=10000" + (after is null ? "" : "&after=" + Uri.EscapeDataString(after));
            using var page = JsonDocument.Parse(await http.GetStringAsync(url));
            foreach (var row in page.RootElement.GetProperty("rows").EnumerateArray())
                rows[row.GetProperty("id").GetInt32()] = (row.GetProperty("v").ValueKind == JsonValueKind.Null ? null : row.GetProperty("v").GetString(),
                    row.GetProperty("n").ValueKind == JsonValueKind.Null ? null : row.GetProperty("n").GetInt32());
            var next = page.RootElement.GetProperty("next");
            after = next.ValueKind == JsonValueKind.Null ? null : next.GetString();
        } while (after is not null);
        return rows;
    }

    internal static string[] Files(string directory, string pattern) => Directory.Exists(directory) ? Directory.GetFiles(directory, pattern) : [];

    internal static async Task<JsonElement> StatusAsync(HttpClient http)
    {
        using var document = JsonDocument.Parse(await http.GetStringAsync("/status"));
        return document.RootElement.Clone();
    }

    internal static async Task WaitReadyAsync(HttpClient http, PgrelayProcess process) =>
        await Eventually.Get(async () =>
        {
            if (process.HasExited) throw new InvalidOperationException("pgrelay exited: " + process.Output);
            try { return (await http.GetAsync("/readyz")).StatusCode; }
            catch (HttpRequestException) { return HttpStatusCode.ServiceUnavailable; }
        }, s => s == HttpStatusCode.OK, "readiness", 120);

    internal static async Task Sql(PrivatePostgresCluster cluster, string sql)
    {
        await using var conn = new NpgsqlConnection(cluster.ConnectionString);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, conn);
        await cmd.ExecuteNonQueryAsync();
    }
}
