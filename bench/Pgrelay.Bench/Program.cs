using Pgrelay.Bench;

// dotnet run -c Release --project bench/Pgrelay.Bench -- replication [snapshotRows] [transactions] [changesPerTxn] [lagSeconds] [lagRate]
// dotnet run -c Release --project bench/Pgrelay.Bench -- snapshot [rows] [rounds] [parallelism] [both|direct|npgsql]
// dotnet run -c Release --project bench/Pgrelay.Bench -- sinks [rows] [transactions] [changesPerTxn] [rounds] [both|pgrelay|subscription]
var mode = args.FirstOrDefault() ?? "replication";
int Arg(int i, int fallback) => args.Length > i && int.TryParse(args[i], out var v) ? v : fallback;
switch (mode)
{
    case "replication":
        await WriteResults("replication", await new ReplicationBench(Arg(1, 1_000_000), Arg(2, 2_000), Arg(3, 100), Arg(4, 20), Arg(5, 200)).RunAsync());
        return 0;
    case "sinks":
        await WriteResults("sinks", await new SinksBench(Arg(1, 200_000), Arg(2, 2_000), Arg(3, 100), Arg(4, 2), args.ElementAtOrDefault(5) ?? "both").RunAsync());
        return 0;
    case "snapshot":
        await SnapshotBench.RunAsync(Arg(1, 1_000_000), Arg(2, 3), Arg(3, 3), args.ElementAtOrDefault(4) ?? "both");
        return 0;
    case "snapshot-cpu":
        SnapshotCpuBench.Run(Arg(1, 1_000_000));
        return 0;
    default:
        Console.Error.WriteLine("usage: Pgrelay.Bench replication [snapshotRows] [transactions] [changesPerTxn] [lagSeconds] [lagRate]");
        Console.Error.WriteLine("       Pgrelay.Bench sinks [rows] [transactions] [changesPerTxn] [rounds] [both|pgrelay|subscription]");
        return 2;
}

// Results go to <repo>/bench/results wherever the bench is started from.
static async Task WriteResults(string name, string report)
{
    var root = new DirectoryInfo(AppContext.BaseDirectory);
    while (root is not null && !File.Exists(Path.Combine(root.FullName, "Pgrelay.slnx"))) root = root.Parent;
    var results = Path.Combine(root?.FullName ?? ".", "bench", "results");
    Directory.CreateDirectory(results);
    var file = Path.Combine(results, $"{name}-{DateTime.UtcNow:yyyyMMdd-HHmm}.md");
    await File.WriteAllTextAsync(file, report);
    Console.WriteLine("report: " + file);
}
