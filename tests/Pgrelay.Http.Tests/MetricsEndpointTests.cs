using System.Globalization;
using System.Text.RegularExpressions;
using Pgrelay.Core.Changes;
using Pgrelay.Core.Model;
using Pgrelay.Core.Status;
using static Pgrelay.Http.Tests.TestData;

namespace Pgrelay.Http.Tests;

public partial class MetricsEndpointTests
{
    // name{labels} value — labels as Prometheus text format 0.0.4 writes them.
    [GeneratedRegex("""^(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?<labels>([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*)\})? (?<value>\S+)$""")]
    private static partial Regex SampleLine();

    private static Dictionary<string, double> Parse(string text)
    {
        var samples = new Dictionary<string, double>();
        var typed = new HashSet<string>();
        foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            if (line.StartsWith("# TYPE ", StringComparison.Ordinal))
            {
                var parts = line.Split(' ');
                Assert.Contains(parts[3], new[] { "counter", "gauge" });
                Assert.True(typed.Add(parts[2]), "TYPE twice for " + parts[2]);
                continue;
            }
            if (line.StartsWith('#')) continue;
            var match = SampleLine().Match(line);
            Assert.True(match.Success, "not a sample line: " + line);
            Assert.Contains(match.Groups["name"].Value, typed);
            string key = match.Groups["name"].Value + (match.Groups["labels"].Success ? "{" + match.Groups["labels"].Value + "}" : "");
            samples.Add(key, double.Parse(match.Groups["value"].Value, CultureInfo.InvariantCulture));
        }
        return samples;
    }

    [Fact]
    public async Task Metrics_are_prometheus_text_with_the_expected_series()
    {
        var store = ReadyStore(Row("Tulsa", "OK", "1"), Row("Salem", "OR", "2"));
        var status = new ReplicationStatus { Phase = ReplicationPhase.Streaming, SnapshotTablesTotal = 2, SnapshotRowsEstimated = 3 };
        status.CountSnapshotRows(3);
        status.CountSnapshotTableDone();
        status.CountSnapshotTableDone();
        status.CountReconnect();
        var txn = Txn(new RowChange(ChangeKind.Insert, Cities, Row("Austin", "TX", "3")));
        store.Apply(txn);
        status.CountTransaction(1);
        status.AppliedLsn = txn.CommitLsn;
        status.ServerWalEnd = new Lsn(txn.CommitLsn.Value + 100);
        await using var server = await RelayServer.StartAsync(store, status);

        var response = await server.Client.GetAsync("/metrics");
        Assert.Equal("text/plain; version=0.0.4; charset=utf-8", response.Content.Headers.ContentType?.ToString());
        var samples = Parse(await response.Content.ReadAsStringAsync());

        Assert.Equal(3, samples["pgrelay_table_rows{publication=\"pub\",table=\"geo.cities\"}"]);
        Assert.Equal(1, samples["pgrelay_table_rows{publication=\"pub\",table=\"everything\"}"]);
        Assert.True(samples["pgrelay_table_bytes{publication=\"pub\",table=\"geo.cities\"}"] > 0);
        Assert.Equal(1, samples["pgrelay_changes_applied_total"]);
        Assert.Equal(1, samples["pgrelay_transactions_applied_total"]);
        Assert.Equal(1, samples["pgrelay_replication_reconnects_total"]);
        Assert.Equal(100, samples["pgrelay_replication_lag_bytes"]);
        Assert.True(samples.ContainsKey("pgrelay_replication_lag_seconds"));
        Assert.Equal(3, samples["pgrelay_snapshot_rows_copied"]);
        Assert.Equal(3, samples["pgrelay_snapshot_rows_estimated"]);
        Assert.Equal(2, samples["pgrelay_snapshot_tables_done"]);
        Assert.Equal(2, samples["pgrelay_snapshot_tables_total"]);
        Assert.Equal(1, samples["pgrelay_replication_phase{phase=\"streaming\"}"]);
        Assert.Equal(0, samples["pgrelay_replication_phase{phase=\"snapshotting\"}"]);
        Assert.Equal(1, samples["pgrelay_ready"]);
        Assert.Equal(txn.EndLsn.Value, samples["pgrelay_visible_lsn"]);
        Assert.Equal(store.Feed.RetainedBytes, samples["pgrelay_feed_retained_bytes"]);
        Assert.True(samples["pgrelay_feed_retained_bytes"] > 0);
    }

    [Fact]
    public async Task Two_servers_in_one_process_report_only_their_own_store()
    {
        await using var one = await RelayServer.StartAsync(ReadyStore(Row("Tulsa", "OK", "1")));
        await using var two = await RelayServer.StartAsync(ReadyStore(Row("Tulsa", "OK", "1"), Row("Salem", "OR", "2")));
        var samples = Parse(await one.Client.GetStringAsync("/metrics"));
        Assert.Equal(1, samples["pgrelay_table_rows{publication=\"pub\",table=\"geo.cities\"}"]);
        samples = Parse(await two.Client.GetStringAsync("/metrics"));
        Assert.Equal(2, samples["pgrelay_table_rows{publication=\"pub\",table=\"geo.cities\"}"]);
    }
}
