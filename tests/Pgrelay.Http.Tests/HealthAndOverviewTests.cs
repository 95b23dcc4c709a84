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

    [Fact]
    public async Task Status_shows_tables_loading_beside_the_stream_and_a_fresh_snapshot_over_served_data()
    {
        var store = ReadyStore(Row("Tulsa", "OK", "1"));
        var status = new ReplicationStatus { Phase = ReplicationPhase.Snapshotting };
        var reload = new TableReloadStatus("public.docs", "added to the publication", new Lsn(0x1000)) { Phase = "copying" };
        reload.CountRows(42);
        status.AddReload(reload);
        status.CountResnapshot("slot pgrelay_x is confirmed at 0/2000, past what this instance holds (0/1000)");
        store.BeginSnapshot([new PublicationSchema("pub", [Cities])]);
        await using var server = await RelayServer.StartAsync(store, status);

        using (var json = JsonDocument.Parse(await server.Client.GetStringAsync("/status")))
        {
            var root = json.RootElement;
            Assert.True(root.GetProperty("ready").GetBoolean());
            Assert.True(root.GetProperty("resnapshotting").GetBoolean());
            Assert.Equal(1, root.GetProperty("replication").GetProperty("resnapshots").GetInt64());
            Assert.Contains("past what this instance holds", root.GetProperty("replication").GetProperty("last_resnapshot_reason").GetString());
            var loading = Assert.Single(root.GetProperty("reloads").EnumerateArray());
            Assert.Equal("public.docs", loading.GetProperty("table").GetString());
            Assert.Equal("added to the publication", loading.GetProperty("reason").GetString());
            Assert.Equal("0/1000", loading.GetProperty("since_lsn").GetString());
            Assert.Equal("copying", loading.GetProperty("phase").GetString());
            Assert.Equal(42, loading.GetProperty("rows_copied").GetInt64());
        }
        var ready = await server.Client.GetAsync("/readyz");
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);   // the old data is complete and consistent: still served
        using (var json = JsonDocument.Parse(await ready.Content.ReadAsStringAsync()))
            Assert.Contains("fresh snapshot is loading", json.RootElement.GetProperty("note").GetString());
        Assert.True(store.TryGetRow("pub.geo.cities.Tulsa/OK"u8, out _));
    }
}
