using System.Runtime;

namespace Pgrelay.Replication.Snapshot;

/// <summary>
/// Holds garbage collection off while a snapshot loads, when the snapshot is big enough to gain and the heap small
/// enough that the collection opening the window is cheap.
/// <para>
/// Why: every row a snapshot allocates survives. With workstation GC's small gen0 budget the runtime collects every
/// few MiB, and each collection stops the copier and loader threads, marks and moves the rows loaded since the last
/// one (twice: into gen1, then gen2), and scans the store's slot array, whose cards the loader dirties everywhere.
/// Measured on 1M rows (docs/benchmarks.md, issue 2): about 30 gen0 and 15 gen1 collections pausing 0.5–1.0 s in all;
/// inside the window 2–3 collections and 0.1–0.2 s. The budget is what the copy is expected to allocate: when the
/// estimate is short the runtime simply collects again, as it would have anyway.
/// </para>
/// </summary>
internal sealed class NoGcWindow : IDisposable
{
    private const long MinBudget = 64L << 20;        // below this the collections are few: not worth a full GC up front
    private const long MaxBudget = 1L << 30;
    private const long MaxHeapToOpen = 256L << 20;   // opening runs a blocking full collection of the current heap

    private NoGcWindow() { }

    /// <summary>Opens a window for about <paramref name="expectedBytes"/> of allocation, or returns null.</summary>
    public static NoGcWindow? TryOpen(long expectedBytes)
    {
        if (expectedBytes < MinBudget) return null;
        var memory = GC.GetGCMemoryInfo();
        if (memory.HeapSizeBytes > MaxHeapToOpen) return null;
        long budget = Math.Min(expectedBytes, Math.Min(MaxBudget, memory.TotalAvailableMemoryBytes / 4));
        if (budget < MinBudget) return null;
        try
        {
            return GC.TryStartNoGCRegion(budget) ? new NoGcWindow() : null;
        }
        catch (InvalidOperationException)
        {
            return null;   // a window is already open in this process (another snapshot)
        }
        catch (ArgumentOutOfRangeException)
        {
            return null;   // more than this runtime allows for one window
        }
    }

    public void Dispose()
    {
        // The window closes by itself when the budget runs out; then there is nothing to end.
        if (GCSettings.LatencyMode != GCLatencyMode.NoGCRegion) return;
        try { GC.EndNoGCRegion(); }
        catch (InvalidOperationException) { }
    }
}
