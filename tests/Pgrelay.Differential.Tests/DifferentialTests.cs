using Xunit.Abstractions;

namespace Pgrelay.Differential.Tests;

/// <summary>
/// The randomized differential test (issue 10, "Done means"), bounded for CI: a few hundred random transactions with the
/// switches that hold today. <c>bench/differential/run.sh</c> runs the long campaign with every switch and fresh seeds.
/// Environment overrides: <c>PGRELAY_DIFF_SEED</c>, <c>PGRELAY_DIFF_TRANSACTIONS</c>, <c>PGRELAY_DIFF_SWITCHES</c>,
/// <c>PGRELAY_DIFF_POSTGRES</c> (major version).
/// </summary>
public sealed class DifferentialTests(ITestOutputHelper output)
{
    /// <summary>
    /// What CI turns on: the edges pgrelay gets exactly right today (key changes; start-up races since the consistent-point
    /// fix; a fast PostgreSQL restart with sinks since status updates stopped holding its shutdown, and during a start-up
    /// since start-up waits for the source; BC dates since JSON renders them as to_json does; DDL, publication changes and
    /// kill -9 with the sinks' replay since a restart replays the kept slot only while the held tables' membership is
    /// unchanged). Turn a switch on here when its fix lands: NoPkTables (issue 10 item 8), SlashKeys (item 7).
    /// </summary>
    public static readonly Switches Today = new()
    {
        KeyChanges = true, StartupRaces = true, PostgresRestart = true, BcDates = true, Ddl = true, PublicationChanges = true, Kill9 = true,
    };

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public async Task Every_row_through_RESP_HTTP_and_the_sinks_equals_the_database(int seed)
    {
        seed = int.TryParse(Environment.GetEnvironmentVariable("PGRELAY_DIFF_SEED"), out var s) ? s : seed;
        var transactions = int.TryParse(Environment.GetEnvironmentVariable("PGRELAY_DIFF_TRANSACTIONS"), out var t) ? t : 300;
        var version = int.TryParse(Environment.GetEnvironmentVariable("PGRELAY_DIFF_POSTGRES"), out var v) ? v : PostgresServers.Default;
        var switches = Switches.FromEnvironment(Today);

        await using var run = new DifferentialRun(seed, switches, new RunSize(transactions), version, output.WriteLine);
        var divergences = await run.RunAsync();
        Assert.True(divergences.Count == 0,
            $"{run.Describe}: {divergences.Count} divergences\n" +
            $"reproduce: PGRELAY_DIFF_SEED={seed} PGRELAY_DIFF_SWITCHES={switches} PGRELAY_DIFF_TRANSACTIONS={transactions} " +
            $"dotnet test tests/Pgrelay.Differential.Tests\n{divergences.Report(40)}");
    }
}
