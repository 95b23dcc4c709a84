using System.Runtime.InteropServices;

namespace Pgrelay.Hosting;

/// <summary>
/// Gives the native heap's free pages back to the OS now and then (glibc's <c>malloc_trim</c>). The runtime's own native
/// allocations — above all the JIT's, while tiered compilation recompiles the hot methods of a load — are freed into
/// glibc's arenas, which keep them: measured after a 1M-row snapshot, 12 MiB of RSS that no one used
/// (docs/benchmarks.md, issue 12, "RSS"). The GC's heap is not touched here (the post-load collection gives its pages back).
/// Elsewhere (musl, other systems) it does nothing.
/// </summary>
internal sealed class NativeHeapRelease : BackgroundService
{
    /// <summary>Often enough that a start-up's compilations are given back within seconds; a trim of a quiet heap costs
    /// microseconds.</summary>
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(10);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!OperatingSystem.IsLinux()) return;
        using var timer = new PeriodicTimer(Interval);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
                if (!Trim()) return;
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>Trims once; false when this C library has no <c>malloc_trim</c> (then there is nothing to do again).</summary>
    internal static bool Trim()
    {
        try
        {
            MallocTrim(0);
            return true;
        }
        catch (DllNotFoundException)
        {
            return false;
        }
        catch (EntryPointNotFoundException)
        {
            return false;
        }
    }

    [DllImport("libc.so.6", EntryPoint = "malloc_trim")]
    private static extern int MallocTrim(nuint pad);
}
