using Pgrelay.Fuzz;

namespace Pgrelay.Fuzz.Tests;

/// <summary>Runs fuzz targets the way afl would, with a hang guard and an allocation count per input.</summary>
internal static class FuzzInputs
{
    /// <summary>Far beyond any input's needs on a loaded machine: reaching it means the target hangs, not that it is slow.</summary>
    public static readonly TimeSpan HangGuard = TimeSpan.FromSeconds(30);

    public static string CorpusDirectory(string target) => Path.Combine(AppContext.BaseDirectory, "corpus", target);

    public static IEnumerable<byte[]> Corpus(string target) =>
        Directory.GetFiles(CorpusDirectory(target)).Order(StringComparer.Ordinal).Select(File.ReadAllBytes);

    /// <summary>Runs one input; returns the bytes allocated meanwhile (all threads, so sessions' tasks count too).</summary>
    public static long Run(string target, byte[] input)
    {
        var run = FuzzTargets.All[target];
        long before = GC.GetTotalAllocatedBytes(precise: true);
        var task = Task.Run(() => run(input));
        try
        {
            if (!task.Wait(HangGuard)) throw new TimeoutException($"{target} hangs on {Show(input)}");
        }
        catch (AggregateException e) when (e.InnerExceptions.Count == 1)
        {
            throw new InvalidOperationException($"{target} failed on {Show(input)}: {e.InnerException!.Message}", e.InnerException);
        }
        return GC.GetTotalAllocatedBytes(precise: true) - before;
    }

    /// <summary>An input as a test can quote it back: hex, then the printable text.</summary>
    public static string Show(byte[] input)
    {
        var shown = input.Length > 512 ? input[..512] : input;
        var text = new string(shown.Select(b => b is >= 0x20 and < 0x7f ? (char)b : '.').ToArray());
        return $"{input.Length} bytes, hex {Convert.ToHexString(shown)} ({text}{(input.Length > 512 ? "…" : "")})";
    }
}
