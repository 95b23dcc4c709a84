using Pgrelay.Core.Changes;
using Pgrelay.Core.Model;
using Pgrelay.Core.Rows;
using Pgrelay.Core.Status;
using Pgrelay.Resp.Server;
using Pgrelay.Store;
using Pgrelay.Transport.Tls;

namespace Pgrelay.Resp.Tests;

/// <summary>
/// A real Redis listener (pgrelay's transport, its own event loop) on a free loopback port serving a real
/// <see cref="ReplicatedStore"/>, filled through its replication-target methods the way replication fills it.
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

    private readonly TestListener _listener;
    private ulong _lsn = 1000;
    private uint _xid = 700;

    private TestServer(TestListener listener, RespServer server)
    {
        _listener = listener;
        Server = server;
    }

    public RespServer Server { get; }
    public ReplicatedStore Store => Server.Store;
    public int Port => _listener.Port;
    public Transport.TransportListener Listener => _listener.Listener;
    public ListLoggerFactory Logs => _listener.Logs;

    public static Task<TestServer> StartAsync(RespOptions? options = null, int extraUsers = 0, TlsEndpointOptions? tls = null, bool streams = false)
    {
        var store = CreateStore(extraUsers);
        options ??= new RespOptions();
        options.Validate();
        var server = new RespServer(store, new ReplicationStatus { SlotName = "pgrelay_test" }, options);
        var listener = TestListener.Start(server.Sessions, server.Quota, options.ConnectionLimits, tls, streams, options.BindAddress);
        options.Port = listener.Port;
        return Task.FromResult(new TestServer(listener, server));
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
    public Task StopAsync(CancellationToken ct = default) => _listener.StopAsync(ct);

    public async ValueTask DisposeAsync()
    {
        await _listener.DisposeAsync();
        Server.Dispose();
    }
}
