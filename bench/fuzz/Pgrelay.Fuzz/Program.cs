using Pgrelay.Fuzz;
using SharpFuzz;

// pgrelay-fuzz <target>                 run under afl-fuzz (bench/fuzz/run.sh): one input per fork, from stdin
// pgrelay-fuzz <target> <file-or-dir>   replay inputs (a crash afl found, or a corpus) without afl
if (args.Length == 0 || !FuzzTargets.All.TryGetValue(args[0], out var target))
{
    Console.Error.WriteLine($"usage: pgrelay-fuzz <{string.Join('|', FuzzTargets.All.Keys)}> [file-or-directory]");
    return 2;
}
if (args.Length > 1)
{
    var files = Directory.Exists(args[1]) ? Directory.GetFiles(args[1]) : [args[1]];
    foreach (var file in files.Order(StringComparer.Ordinal))
    {
        target(File.ReadAllBytes(file));
        Console.WriteLine($"ok {file}");
    }
    return 0;
}
Fuzzer.OutOfProcess.Run(stream =>
{
    using var memory = new MemoryStream();
    stream.CopyTo(memory);
    target(memory.ToArray());
});
return 0;
