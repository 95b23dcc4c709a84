using System.Diagnostics;

namespace Pgrelay.Core.Status;

/// <summary>
/// When each step of this process's start-up ended, in milliseconds since the process was executed: the runtime's own
/// start (up to <c>Main</c>), settings, the host, the checks against the source, the checkpoint load or the snapshot
/// copy, and "served" (the store ready and every check that could make its data useless passed). /status shows it as
/// <c>startup</c>, and it is logged once on one line, so a slow start says where its time went without a profiler.
/// A step marked twice (a start-up retried after a failure) keeps its first mark; later ones are not start-up.
/// </summary>
public sealed class StartupTimeline
{
    private readonly Lock _lock = new();
    private readonly List<(string Step, long Milliseconds)> _marks = [];
    private readonly long _originTimestamp;

    private StartupTimeline(long originTimestamp) => _originTimestamp = originTimestamp;

    /// <summary>A timeline from now (a host built inside another process, as tests do).</summary>
    public StartupTimeline() : this(Stopwatch.GetTimestamp()) { }

    /// <summary>A timeline from the exec of this process, so the runtime's own start before Main counts too. The OS's start
    /// time has a 10 ms resolution on Linux; the monotonic clock measures from there on.</summary>
    public static StartupTimeline SinceProcessStart()
    {
        double sinceExec = 0;
        try
        {
            using var self = Process.GetCurrentProcess();
            sinceExec = Math.Max(0, (DateTime.Now - self.StartTime).TotalMilliseconds);
        }
        catch (Exception e) when (e is InvalidOperationException or NotSupportedException or System.ComponentModel.Win32Exception) { }
        return new StartupTimeline(Stopwatch.GetTimestamp() - (long)(sinceExec * Stopwatch.Frequency / 1000));
    }

    public long ElapsedMilliseconds => (long)Stopwatch.GetElapsedTime(_originTimestamp).TotalMilliseconds;

    /// <summary>Notes that <paramref name="step"/> ended now (only the first time).</summary>
    public void Mark(string step)
    {
        long at = ElapsedMilliseconds;
        lock (_lock)
        {
            foreach (var (s, _) in _marks)
                if (s == step) return;
            _marks.Add((step, at));
        }
    }

    public bool Has(string step)
    {
        lock (_lock) return _marks.Exists(m => m.Step == step);
    }

    /// <summary>The marks in the order they were made.</summary>
    public IReadOnlyList<(string Step, long Milliseconds)> Marks
    {
        get { lock (_lock) return _marks.ToArray(); }
    }

    /// <summary>"main 180 ms, settings 190 ms, …": the log line's text.</summary>
    public override string ToString() => string.Join(", ", Marks.Select(m => $"{m.Step} {m.Milliseconds} ms"));
}
