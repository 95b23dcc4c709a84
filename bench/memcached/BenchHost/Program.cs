// Usage: BenchHost <port> <rows> [max-seconds]   (listening as `pgrelay run` listens: pgrelay's transport)
// Serves publication "bench", table "products" (id bigint key, name text, price numeric, in_stock bool,
// tags text[], updated_at timestamptz) with <rows> rows at bench.products.<id>, then exits after max-seconds.
using System.Globalization;
using System.Net;
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

var options = new MemcachedOptions { Port = port };
var server = new Pgrelay.Memcached.Server.MemcachedServer(store, options);
await using var listeners = new Pgrelay.Bench.Hosts.BenchListeners(port, server.Sessions, server.Quota, server.ConnectionLimits);
Console.WriteLine($"pgrelay memcached listener on 127.0.0.1:{port} ({listeners.Describe}) with {rows} rows (bench.products.<1..{rows}>)");
using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(maxSeconds));
Console.CancelKeyPress += (_, e) => { e.Cancel = true; stop.Cancel(); };
using var term = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, c => { c.Cancel = true; stop.Cancel(); });
try { await Task.Delay(Timeout.Infinite, stop.Token); } catch (OperationCanceledException) { }
Console.WriteLine($"allocated {GC.GetTotalAllocatedBytes() / 1024} KiB, gen0 {GC.CollectionCount(0)}, gen1 {GC.CollectionCount(1)}, gen2 {GC.CollectionCount(2)}");
