// Usage: BenchHost <port> <rows> [max-seconds]   (wired as `pgrelay run` wires the memcached listener)
// Serves publication "bench", table "products" (id bigint key, name text, price numeric, in_stock bool,
// tags text[], updated_at timestamptz) with <rows> rows at bench.products.<id>, then exits after max-seconds.
using System.Globalization;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Pgrelay.Core.Model;
using Pgrelay.Core.Rows;
using Pgrelay.Memcached;
using Pgrelay.Store;

int port = int.Parse(args[0], CultureInfo.InvariantCulture);
int rows = int.Parse(args[1], CultureInfo.InvariantCulture);
int maxSeconds = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 900;

var products = new TableSchema(16384, "public", "products",
[
    new ColumnSchema("id", PgTypes.Int8, -1, true),
    new ColumnSchema("name", PgTypes.Text, -1, false),
    new ColumnSchema("price", PgTypes.Numeric, -1, false),
    new ColumnSchema("in_stock", PgTypes.Bool, -1, false),
    new ColumnSchema("tags", 1009, -1, false),
    new ColumnSchema("updated_at", PgTypes.TimestampTz, -1, false),
], ReplicaIdentity.Default);

var store = new ReplicatedStore();
store.BeginSnapshot([new PublicationSchema("bench", [products])]);
var builder = new RowBuilder();
var batch = new List<byte[]>(10_000);
for (int i = 1; i <= rows; i++)
{
    builder.AddValue(i.ToString(CultureInfo.InvariantCulture));
    builder.AddValue($"product number {i}");
    builder.AddValue($"{i % 1000}.{i % 100:D2}");
    builder.AddValue(i % 3 == 0 ? "f" : "t");
    builder.AddValue(i % 2 == 0 ? "{red,large}" : "{blue}");
    builder.AddValue("2026-11-23 12:34:56.789+00");
    batch.Add(builder.Build());
    if (batch.Count == batch.Capacity)
    {
        store.LoadSnapshotRows(products, batch);
        batch.Clear();
    }
}
store.LoadSnapshotRows(products, batch);
store.CompleteSnapshot(new Lsn(0x1000000));

var web = WebApplication.CreateSlimBuilder();
web.Logging.ClearProviders();
web.Services.AddSingleton(store);
// BENCH_SHARED_SCHEDULING=1: memcached connections use Kestrel's default scheduling, as HTTP does (for comparison).
bool shared = Environment.GetEnvironmentVariable("BENCH_SHARED_SCHEDULING") == "1";
web.Services.AddPgrelayMemcached(new MemcachedOptions { Port = port });
// As `pgrelay run` runs the cache protocols (the host's InlineTransportFactory): inline on the socket thread.
web.WebHost.UseSockets(o => o.UnsafePreferInlineScheduling = !shared);
web.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, port, l => l.UseConnectionHandler<MemcachedConnectionHandler>()));
var app = web.Build();
await app.StartAsync();
Console.WriteLine($"pgrelay memcached listener on 127.0.0.1:{port} with {rows} rows (bench.products.<1..{rows}>)");
// SIGTERM (run.sh's cleanup, timeout) reaches the host's lifetime, which stops the app: wait on that too.
using var stop = CancellationTokenSource.CreateLinkedTokenSource(app.Lifetime.ApplicationStopping);
stop.CancelAfter(TimeSpan.FromSeconds(maxSeconds));
Console.CancelKeyPress += (_, e) => { e.Cancel = true; stop.Cancel(); };
try { await Task.Delay(Timeout.Infinite, stop.Token); } catch (OperationCanceledException) { }
using var stopTimeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
await app.StopAsync(stopTimeout.Token);
Console.WriteLine($"allocated {GC.GetTotalAllocatedBytes() / 1024} KiB, gen0 {GC.CollectionCount(0)}, gen1 {GC.CollectionCount(1)}, gen2 {GC.CollectionCount(2)}");
