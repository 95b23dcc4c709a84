// Usage: BenchHost serve <port> <rows> [max-seconds]   pgrelay's Redis listener over <rows> rows of BenchRows.Accounts
//        BenchHost hset <rows>                         the same rows as RESP HSET commands on stdout (for redis-cli --pipe)
using System.Globalization;
using System.Net;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Pgrelay.Core.Model;
using Pgrelay.Core.Rows;
using Pgrelay.Core.Status;
using Pgrelay.Resp;
using Pgrelay.Store;

if (args is ["hset", var count])
{
    WriteHsetCommands(int.Parse(count, CultureInfo.InvariantCulture));
    return;
}
if (args is not ["serve", var portText, var rowsText, ..])
{
    Console.Error.WriteLine("usage: BenchHost serve <port> <rows> [max-seconds] | BenchHost hset <rows>");
    Environment.Exit(2);
    return;
}
int port = int.Parse(portText, CultureInfo.InvariantCulture);
int rows = int.Parse(rowsText, CultureInfo.InvariantCulture);
int maxSeconds = args.Length > 3 ? int.Parse(args[3], CultureInfo.InvariantCulture) : 900;

var store = new ReplicatedStore();
store.BeginSnapshot([new PublicationSchema(BenchRows.Publication, [BenchRows.Accounts])]);
var builder = new RowBuilder();
var batch = new List<byte[]>(10_000);
for (int i = 0; i < rows; i++)
{
    foreach (var value in BenchRows.Values(i)) builder.AddText(value);
    batch.Add(builder.Build());
    if (batch.Count == batch.Capacity)
    {
        store.LoadSnapshotRows(BenchRows.Accounts, batch);
        batch.Clear();
    }
}
store.LoadSnapshotRows(BenchRows.Accounts, batch);
store.CompleteSnapshot(new Lsn(0x1000000));

var web = WebApplication.CreateSlimBuilder();
web.Logging.ClearProviders();
web.Services.AddSingleton(store);
web.Services.AddSingleton(new ReplicationStatus { SlotName = "bench" });
web.Services.AddPgrelayResp(new RespOptions { Port = port });
if (Environment.GetEnvironmentVariable("BENCH_INLINE_SCHEDULING") == "1")
    web.WebHost.UseSockets(o => o.UnsafePreferInlineScheduling = true);
web.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, port, l => l.UseConnectionHandler<RespConnectionHandler>()));
var app = web.Build();
await app.StartAsync();
Console.WriteLine($"pgrelay Redis listener on 127.0.0.1:{port} with {rows} rows ({BenchRows.Key(0)}..)");
long allocatedAtStart = GC.GetTotalAllocatedBytes();
using var stop = CancellationTokenSource.CreateLinkedTokenSource(app.Lifetime.ApplicationStopping);
stop.CancelAfter(TimeSpan.FromSeconds(maxSeconds));
Console.CancelKeyPress += (_, e) => { e.Cancel = true; stop.Cancel(); };
try { await Task.Delay(Timeout.Infinite, stop.Token); } catch (OperationCanceledException) { }
long allocated = GC.GetTotalAllocatedBytes() - allocatedAtStart;
var server = app.Services.GetRequiredService<Pgrelay.Resp.Server.RespServer>();
long commands = server.Stats.CommandsProcessed;
Console.WriteLine($"served {commands} commands; allocated {allocated / 1024} KiB while serving ({(commands == 0 ? 0 : (double)allocated / commands):F1} B/command), " +
                  $"gen0 {GC.CollectionCount(0)}, gen1 {GC.CollectionCount(1)}, gen2 {GC.CollectionCount(2)}");
using var stopTimeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
await app.StopAsync(stopTimeout.Token);

static void WriteHsetCommands(int rows)
{
    using var output = new BufferedStream(Console.OpenStandardOutput(), 1 << 20);
    var columns = BenchRows.Accounts.Columns;
    var text = new StringBuilder();
    for (int i = 0; i < rows; i++)
    {
        var values = BenchRows.Values(i);
        var args = new List<string> { "HSET", BenchRows.Key(i) };
        for (int c = 0; c < columns.Count; c++)
            if (values[c] is { } v) { args.Add(columns[c].Name); args.Add(v); }
        text.Clear().Append('*').Append(args.Count).Append("\r\n");
        foreach (var a in args) text.Append('$').Append(Encoding.UTF8.GetByteCount(a)).Append("\r\n").Append(a).Append("\r\n");
        output.Write(Encoding.UTF8.GetBytes(text.ToString()));
    }
}
