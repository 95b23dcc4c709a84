using System.Diagnostics;
using System.Globalization;

namespace Pgrelay.Core.Status;

/// <summary>
/// When each step of this process's start-up ended, in milliseconds since the process was executed, and how much CPU the
/// process had used by then (on a busy machine the wall clock mostly measures waiting for a core; the CPU does not): the
/// runtime's own start (up to <c>Main</c>), settings, the host, the checks against the source, the checkpoint load or the
/// snapshot copy, and "served" (the store ready and every check that could make its data useless passed). /status shows it
/// as <c>startup</c>, and it is logged once on one line, so a slow start says where its time went without a profiler. A
/// step marked twice (a start-up retried after a failure) keeps its first mark; later ones are not start-up.
/// </summary>
public sealed class StartupTimeline
{
    private readonly Lock _lock = new();
    private readonly List<(string Step, long Milliseconds, long CpuMilliseconds)> _marks = [];
    private readonly long _originTimestamp;

    private StartupTimeline(long originTimestamp) => _originTimestamp = originTimestamp;

    /// <summary>A timeline from now (a host built inside another process, as tests do).</summary>
    public StartupTimeline() : this(Stopwatch.GetTimestamp()) { }

    /// <summary>A timeline from the exec of this process, so the runtime's own start before Main counts too.</summary>
    public static StartupTimeline SinceProcessStart() =>
        new(Stopwatch.GetTimestamp() - (long)(MillisecondsSinceExec() * Stopwatch.Frequency / 1000));

    public long ElapsedMilliseconds => (long)Stopwatch.GetElapsedTime(_originTimestamp).TotalMilliseconds;

    /// <summary>Notes that <paramref name="step"/> ended now (only the first time).</summary>
    public void Mark(string step)
    {
        long at = ElapsedMilliseconds;
        long cpu = CpuMilliseconds();
        lock (_lock)
        {
            foreach (var (s, _, _) in _marks)
                if (s == step) return;
            _marks.Add((step, at, cpu));
        }
    }

    public bool Has(string step)
    {
        lock (_lock) return _marks.Exists(m => m.Step == step);
    }

    /// <summary>The marks in the order they were made.</summary>
    public IReadOnlyList<(string Step, long Milliseconds, long CpuMilliseconds)> Marks
    {
        get { lock (_lock) return _marks.ToArray(); }
    }

    /// <summary>"main 180 ms (cpu 120), settings 190 ms (cpu 130), …": the log line's text.</summary>
    public override string ToString() => string.Join(", ", Marks.Select(m => $"{m.Step} {m.Milliseconds} ms (cpu {m.CpuMilliseconds})"));

    private static long CpuMilliseconds()
    {
        using var self = Process.GetCurrentProcess();
        return (long)self.TotalProcessorTime.TotalMilliseconds;
    }

    /// <summary>
    /// On Linux from the kernel's own clock: /proc/uptime now minus the process's start in /proc/self/stat, both since boot
    /// in USER_HZ (100 per second) ticks. Not <see cref="Process.StartTime"/>: it adds the boot time, which /proc/stat gives
    /// in whole seconds, so it is up to a second off. Elsewhere that is the best there is; 0 when nothing can be read.
    /// </summary>
    private static double MillisecondsSinceExec()
    {
        try
        {
            if (OperatingSystem.IsLinux())
            {
                var uptime = double.Parse(File.ReadAllText("/proc/uptime").Split(' ')[0], CultureInfo.InvariantCulture);
                var stat = File.ReadAllText("/proc/self/stat");
                // The command name (field 2) may hold spaces and parentheses: count fields after the last ')'. starttime is
                // field 22, the 20th after it.
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                var startTicks = long.Parse(fields[19], CultureInfo.InvariantCulture);
                return Math.Max(0, uptime * 1000 - startTicks * 10.0);
            }
            using var self = Process.GetCurrentProcess();
            return Math.Max(0, (DateTime.Now - self.StartTime).TotalMilliseconds);
        }
        catch (Exception e) when (e is IOException or FormatException or IndexOutOfRangeException or ArgumentException or InvalidOperationException
                                      or NotSupportedException or UnauthorizedAccessException or System.ComponentModel.Win32Exception)
        {
            return 0;
        }
    }
}
