using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Pgrelay.Core.Changes;
using Pgrelay.Core.Model;
using Pgrelay.Core.Rows;
using Pgrelay.Core.Status;
using Pgrelay.Store;

namespace Pgrelay.Resp.Tests;

/// <summary>
/// A real Kestrel server on a free loopback port serving a real <see cref="ReplicatedStore"/>, filled through
/// its replication-target methods the way replication fills it.
/// </summary>
public sealed class TestServer : IAsyncDisposable
{
    public static readonly TableSchema Cities = new(1001, "public", "cities",
        [new ColumnSchema("name", PgTypes.Text, -1, true), new ColumnSchema("state", PgTypes.Text, -1, true),
         new ColumnSchema("population", PgTypes.Int4, -1, false), new ColumnSchema("motto", PgTypes.Text, -1, false)],
        ReplicaIdentity.Default);

    public static readonly TableSchema Users = new(1002, "public", "users",
        [new ColumnSchema("id", PgTypes.Int4, -1, true), new ColumnSchema("name", PgTypes.Text, -1, false),
         new ColumnSchema("email", PgTypes.Text, -1, false)],
        ReplicaIdentity.Default);

    private readonly WebApplication _app;
    private ulong _lsn = 1000;
    private uint _xid = 700;

    private TestServer(WebApplication app, ReplicatedStore store, int port)
    {
        _app = app;
        Store = store;
        Port = port;
    }

    public ReplicatedStore Store { get; }
    public int Port { get; }

    public static async Task<TestServer> StartAsync(RespOptions? options = null, int extraUsers = 0)
    {
        var store = CreateStore(extraUsers);

        int port = FreeTcpPort.Next();
        options ??= new RespOptions();
        options.Port = port;
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton(store);
        builder.Services.AddSingleton(new ReplicationStatus { SlotName = "pgrelay_test" });
        builder.Services.AddPgrelayResp(options);
        // Far beyond any test's bound: a connection that held a stop would show as a hang, not be aborted quietly.
        builder.Services.Configure<Microsoft.Extensions.Hosting.HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromMinutes(5));
        builder.WebHost.ConfigureKestrel(k => k.Listen(options.BindAddress, port, l => l.UseConnectionHandler<RespConnectionHandler>()));
        var app = builder.Build();
        await app.StartAsync();
        return new TestServer(app, store, port);
    }

    /// <summary>The test rows: three cities and two users (plus <paramref name="extraUsers"/>), committed at LSN 1000.</summary>
    public static ReplicatedStore CreateStore(int extraUsers = 0)
    {
        var store = new ReplicatedStore();
        store.BeginSnapshot([new PublicationSchema("pub", [Cities, Users])]);
        store.LoadSnapshotRows(Cities, [Row("Tulsa", "OK", "413066", "Tulsa, a great place"), Row("Portland", "OR", "652503", null), Row("Portland", "ME", "68408", "Resurgam")]);
        var users = new List<byte[]> { Row("1", "Ada", null), Row("2", "Grace", "grace@example.com") };
        for (int i = 0; i < extraUsers; i++) users.Add(Row((100 + i).ToString(), "user" + i, null));
        store.LoadSnapshotRows(Users, users);
        store.CompleteSnapshot(new Lsn(1000));
        return store;
    }

    public static byte[] Row(params string?[] values) => RowBuilder.FromText(values);

    /// <summary>Commits one transaction in the store, as replication would.</summary>
    public void Apply(params RowChange[] changes)
    {
        _lsn += 100;
        Store.Apply(new Transaction(_xid++, new Lsn(_lsn), new Lsn(_lsn + 8), DateTimeOffset.UtcNow, changes.Length, changes));
    }


    /// <summary>Stops the server gracefully, as the host does on Ctrl+C.</summary>
    public Task StopAsync(CancellationToken ct = default) => _app.StopAsync(ct);

    public async ValueTask DisposeAsync()
    {
        using (var bound = new CancellationTokenSource(TimeSpan.FromSeconds(10))) await _app.StopAsync(bound.Token);
        await _app.DisposeAsync();
    }
}
