using System.Net;
using System.Text.Json;
using Pgrelay.Core.Model;
using Pgrelay.Core.Status;
using static Pgrelay.Http.Tests.TestData;

namespace Pgrelay.Http.Tests;

public class HealthAndOverviewTests
{
    [Fact]
    public async Task Readyz_is_503_until_the_snapshot_completes()
    {
        var store = LoadingStore(Row("Tulsa", "OK", "1"));
        var status = new ReplicationStatus { Phase = ReplicationPhase.Snapshotting, SnapshotTablesTotal = 2, SnapshotRowsEstimated = 10 };
        status.CountSnapshotRows(2);
        await using var server = await RelayServer.StartAsync(store, status);

        Assert.Equal(HttpStatusCode.OK, (await server.Client.GetAsync("/healthz")).StatusCode);
        var notReady = await server.Client.GetAsync("/readyz");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, notReady.StatusCode);
        using (var json = JsonDocument.Parse(await notReady.Content.ReadAsStringAsync()))
            Assert.Contains("2 of about 10 rows", json.RootElement.GetProperty("reason").GetString());

        store.CompleteSnapshot(new Lsn(0x2000));
        Assert.Equal(HttpStatusCode.OK, (await server.Client.GetAsync("/readyz")).StatusCode);
    }

    [Fact]
    public async Task Overview_lists_publications_tables_and_progress()
    {
        var status = new ReplicationStatus { Phase = ReplicationPhase.Streaming };
        await using var server = await RelayServer.StartAsync(ReadyStore(Row("Tulsa", "OK", "1"), Row("Salem", "OR", "2")), status);
        using var json = JsonDocument.Parse(await server.Client.GetStringAsync("/"));
        var root = json.RootElement;
        Assert.Equal("streaming", root.GetProperty("phase").GetString());
        Assert.True(root.GetProperty("ready").GetBoolean());
        Assert.Equal("0/1000", root.GetProperty("visible_lsn").GetString());
        var publication = root.GetProperty("publications")[0];
        Assert.Equal("pub", publication.GetProperty("name").GetString());
        var tables = publication.GetProperty("tables").EnumerateArray().ToDictionary(t => t.GetProperty("name").GetString()!);
        Assert.Equal(1, tables["everything"].GetProperty("rows").GetInt64());
        Assert.Equal(2, tables["geo.cities"].GetProperty("rows").GetInt64());
        Assert.True(tables["geo.cities"].GetProperty("bytes").GetInt64() > 0);
        Assert.True(tables["geo.cities"].GetProperty("bytes_per_row").GetDouble() > 0);
    }
}
