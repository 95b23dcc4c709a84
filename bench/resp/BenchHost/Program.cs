// Usage: BenchHost serve <port> <rows> [max-seconds]   pgrelay's Redis listener over <rows> rows of BenchRows.Accounts
//        BenchHost hset <rows>                         the same rows as RESP HSET commands on stdout (for redis-cli --pipe)
using System.Globalization;
using System.Net;
using System.Text;
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

// BENCH_PASSWORD: clients must AUTH (the hostile-input bench's pre-auth rows); BENCH_MAXCLIENTS: Redis's maxclients.
var options = new RespOptions
{
    Port = port,
    Password = Environment.GetEnvironmentVariable("BENCH_PASSWORD") is { Length: > 0 } password ? password : null,
    MaxClients = int.TryParse(Environment.GetEnvironmentVariable("BENCH_MAXCLIENTS"), out int maxClients) ? maxClients : 10_000,
};
using var server = new Pgrelay.Resp.Server.RespServer(store, new ReplicationStatus { SlotName = "bench" }, options);
await using var listeners = new Pgrelay.Bench.Hosts.BenchListeners(port, server.Sessions, server.Quota, options.ConnectionLimits);
Console.WriteLine($"pgrelay Redis listener on 127.0.0.1:{port} ({listeners.Describe}) with {rows} rows ({BenchRows.Key(0)}..)");
long allocatedAtStart = GC.GetTotalAllocatedBytes();
using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(maxSeconds));
Console.CancelKeyPress += (_, e) => { e.Cancel = true; stop.Cancel(); };
using var term = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, c => { c.Cancel = true; stop.Cancel(); });
// SIGHUP: report memory, collect, report again (to see what a spike left behind).
using var hup = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGHUP, c =>
{
    c.Cancel = true;
    Console.WriteLine($"heap {GC.GetTotalMemory(false) >> 20} MB, committed {GC.GetGCMemoryInfo().TotalCommittedBytes >> 20} MB, rss {Environment.WorkingSet >> 20} MB");
    GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true);
    Console.WriteLine($"after collect: heap {GC.GetTotalMemory(false) >> 20} MB, committed {GC.GetGCMemoryInfo().TotalCommittedBytes >> 20} MB, rss {Environment.WorkingSet >> 20} MB");
});
try { await Task.Delay(Timeout.Infinite, stop.Token); } catch (OperationCanceledException) { }
long allocated = GC.GetTotalAllocatedBytes() - allocatedAtStart;
long commands = server.Stats.CommandsProcessed;
Console.WriteLine($"served {commands} commands; allocated {allocated / 1024} KiB while serving ({(commands == 0 ? 0 : (double)allocated / commands):F1} B/command), " +
                  $"gen0 {GC.CollectionCount(0)}, gen1 {GC.CollectionCount(1)}, gen2 {GC.CollectionCount(2)}");

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
