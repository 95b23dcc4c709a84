using System.Net;
using System.Text.Json;
using Npgsql;
using Pgrelay.Replication.Local;
using Pgrelay.Testing;

namespace Pgrelay.Host.Tests;

using static CheckpointRig;

/// <summary>
/// A PostgreSQL that goes down and comes back again and again while pgrelay starts: before the slot, during the copy,
/// during the first stream. pgrelay must never exit on it, must say on /readyz why it is not ready whenever it is not,
/// must end serving exactly the database's rows, and must leave no slot behind but its own (none once it stops).
/// </summary>
public class FlappingSourceTests
{
    private const int Flaps = 6;

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public async Task A_source_flapping_through_start_up_ends_exact_with_one_slot_and_readyz_always_says_why(int seed)
    {
        var random = new Random(seed);
        await using var cluster = await PrivatePostgresCluster.StartAsync();
        // Enough rows that a copy takes a moment, so some flaps land in it.
        await Sql(cluster, """
            CREATE TABLE t (id int PRIMARY KEY, v text, n int);
            INSERT INTO t SELECT g, repeat(md5(g::text), 8), 0 FROM generate_series(1, 60000) g;
            CREATE PUBLICATION pub FOR TABLE t;
            """);
        await cluster.StopAsync();

        int httpPort = FreeTcpPort.Next();
        await using var process = PgrelayProcess.Start("run", "--source", cluster.UrlFor("postgres"), "--publication", "pub",
            "--http", $"127.0.0.1:{httpPort}", "--resp", "off", "--memcached", "off", "--heartbeat", "1s");
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{httpPort}"), Timeout = TimeSpan.FromSeconds(30) };

        var phases = new List<string>();
        int n = 0;
        for (int flap = 0; flap < Flaps; flap++)
        {
            // Down for a while: not ready (or ready on what it had) and, when not, saying why.
            await SampleReadyzAsync(http, process, TimeSpan.FromMilliseconds(300 + random.Next(1200)));
            await cluster.StartStoppedAsync();
            // Up for a while: a few writes, and whatever start-up stage pgrelay reaches in it.
            var upFor = TimeSpan.FromMilliseconds(200 + random.Next(2500));
            var until = DateTime.UtcNow + upFor;
            while (DateTime.UtcNow < until)
            {
                await Sql(cluster, $"UPDATE t SET n = {++n} WHERE id % 97 = {n % 97}");
                phases.Add(await PhaseAsync(http));
                await SampleReadyzAsync(http, process, TimeSpan.FromMilliseconds(100));
            }
            await cluster.StopAsync();
        }
        await cluster.StartStoppedAsync();
        Assert.False(process.HasExited, process.Output);

        await WaitReadyAsync(http, process);
        await Sql(cluster, "UPDATE t SET v = 'last' WHERE id = 1; DELETE FROM t WHERE id > 59990;");
        await AssertServedEqualsSourceAsync(http, cluster, process);

        // One slot: pgrelay's, in use; none of an abandoned attempt.
        var slots = await SlotsAsync(cluster);
        Assert.True(slots.Count == 1, $"slots: {string.Join(", ", slots)}; phases seen: {string.Join(" ", phases.Distinct())}\n{process.Output}");
        Assert.True(await process.StopAsync(), process.Output);
        Assert.Empty(await SlotsAsync(cluster));
    }

    private static async Task SampleReadyzAsync(HttpClient http, PgrelayProcess process, TimeSpan duration)
    {
        var until = DateTime.UtcNow + duration;
        do
        {
            Assert.False(process.HasExited, $"pgrelay exited ({(process.HasExited ? process.ExitCode : 0)}) on a flapping source\n{process.Output}");
            try
            {
                using var response = await http.GetAsync("/readyz");
                var body = await response.Content.ReadAsStringAsync();
                if (response.StatusCode != HttpStatusCode.OK)
                    Assert.True(body.Trim().Length > 0, $"/readyz answered {(int)response.StatusCode} without saying why");
            }
            catch (HttpRequestException) { }   // not listening yet
            catch (TaskCanceledException) { }  // a busy machine
            await Task.Delay(50);
        } while (DateTime.UtcNow < until);
    }

    private static async Task<string> PhaseAsync(HttpClient http)
    {
        try
        {
            using var status = JsonDocument.Parse(await http.GetStringAsync("/status"));
            return status.RootElement.GetProperty("phase").GetString() ?? "?";
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException) { return "unreachable"; }
    }

    private static async Task<List<string>> SlotsAsync(PrivatePostgresCluster cluster)
    {
        await using var conn = new NpgsqlConnection(cluster.ConnectionString);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand("SELECT slot_name || ' active=' || active FROM pg_replication_slots", conn);
        await using var reader = await cmd.ExecuteReaderAsync();
        var slots = new List<string>();
        while (await reader.ReadAsync()) slots.Add(reader.GetString(0));
        return slots;
    }
}
