using System.Diagnostics;
using System.Text;
using Pgrelay.Core.Model;
using Pgrelay.Replication.Snapshot;
using Pgrelay.Store;

namespace Pgrelay.Bench;

/// <summary>
/// The CPU side of the snapshot without PostgreSQL: COPY text for bench_rows parsed and loaded into the store on one
/// thread, split into parse and install, so a slow snapshot can be pinned on our code or on the copy itself.
/// </summary>
internal static class SnapshotCpuBench
{
    public static void Run(int rows)
    {
        var schema = new TableSchema(1, "public", "bench_rows",
        [
            new ColumnSchema("id", PgTypes.Int8, -1, true), new ColumnSchema("name", PgTypes.Text, -1, false),
            new ColumnSchema("score", PgTypes.Numeric, -1, false), new ColumnSchema("created", PgTypes.TimestampTz, -1, false),
            new ColumnSchema("flag", PgTypes.Bool, -1, false), new ColumnSchema("payload", PgTypes.Text, -1, false),
        ], ReplicaIdentity.Default);
        var text = new StringBuilder();
        for (int i = 1; i <= rows; i++)
            text.Append($"{i}\tname {i}\t{(i % 10000) / 7.0:F2}\t2024-01-01 00:00:{i % 60:D2}+00\t{(i % 2 == 0 ? 't' : 'f')}\t{Convert.ToHexStringLower(BitConverter.GetBytes((long)i * 2654435761))}{Convert.ToHexStringLower(BitConverter.GetBytes((long)i))}\n");
        var bytes = Encoding.UTF8.GetBytes(text.ToString());
        Console.WriteLine($"{rows:N0} rows, {bytes.Length / (double)rows:F1} COPY bytes/row");

        // Wall time on a shared 2-core machine says little; process CPU (user + system, GC included) per phase is
        // the figure to compare. "parse, dropped" lets every row die young: the difference to "parse" is what
        // keeping a million rows alive costs the GC.
        for (int round = 0; round < 3; round++)
        {
            var cpu = Cpu();
            ParseDropped(bytes, schema);
            var droppedCpu = Cpu() - cpu;
            int gen0 = GC.CollectionCount(0), gen1 = GC.CollectionCount(1), gen2 = GC.CollectionCount(2);
            cpu = Cpu();
            var parsed = Parse(bytes, schema, out var parseTime);
            var parseCpu = Cpu() - cpu;
            var store = new ReplicatedStore();
            store.BeginSnapshot([new PublicationSchema("bench", [schema])]);
            store.ExpectSnapshotRows(schema, rows);
            cpu = Cpu();
            var sw = Stopwatch.StartNew();
            foreach (var batch in parsed) store.LoadSnapshotRows(schema, batch);
            var loadTime = sw.Elapsed;
            var loadCpu = Cpu() - cpu;
            sw.Restart();
            store.CompleteSnapshot(new Lsn(0x1000));
            var completeTime = sw.Elapsed;
            Console.WriteLine($"CPU: parse, dropped {droppedCpu.TotalSeconds:F2}s, parse {parseCpu.TotalSeconds:F2}s, load {loadCpu.TotalSeconds:F2}s; " +
                $"wall: parse {parseTime.TotalSeconds:F2}s, load {loadTime.TotalSeconds:F2}s, complete {completeTime.TotalSeconds:F2}s; " +
                $"gen0/1/2 during parse+load {GC.CollectionCount(0) - gen0}/{GC.CollectionCount(1) - gen1}/{GC.CollectionCount(2) - gen2}");
            parsed = null;
            store = null;
            GC.Collect();
        }
    }

    private static TimeSpan Cpu() => Process.GetCurrentProcess().TotalProcessorTime;

    private static void ParseDropped(byte[] bytes, TableSchema schema)
    {
        var parser = new CopyTextParser(schema.Columns.Count);
        var batch = new List<byte[]>(1000);
        for (int at = 0; at < bytes.Length; at += 65536)
        {
            parser.Feed(bytes.AsSpan(at, Math.Min(65536, bytes.Length - at)), batch);
            batch.Clear();
        }
        parser.Finish();
    }

    private static List<List<byte[]>> Parse(byte[] bytes, TableSchema schema, out TimeSpan elapsed)
    {
        var sw = Stopwatch.StartNew();
        var parser = new CopyTextParser(schema.Columns.Count);
        var batches = new List<List<byte[]>>();
        var batch = new List<byte[]>(1000);
        for (int at = 0; at < bytes.Length; at += 65536)
        {
            parser.Feed(bytes.AsSpan(at, Math.Min(65536, bytes.Length - at)), batch);
            if (batch.Count >= 1000) { batches.Add(batch); batch = new List<byte[]>(1000); }
        }
        parser.Finish();
        batches.Add(batch);
        elapsed = sw.Elapsed;
        return batches;
    }
}
