namespace Pgrelay.Transport;

/// <summary>
/// Gives memory back after a spike. A subscriber that stopped reading can hold tens of megabytes of queued messages
/// before its output limit ends it; buffers of that size are native memory and go back at once, but the messages are
/// objects, and a server that allocates nothing per request may not run a full collection for a long time, so the
/// process would keep the spike's size (Redis gives most of it back). When a connection that held more than
/// <see cref="Threshold"/> ends, one background full collection runs a little later (after the rest of a wave of such
/// closes), at most once every <see cref="MinimumInterval"/>, so no client can make the server collect often.
/// </summary>
internal static class SpikeRelief
{
    public const long Threshold = 8L * 1024 * 1024;
    private static readonly TimeSpan Delay = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan MinimumInterval = TimeSpan.FromSeconds(30);
    private static long s_scheduledAt = -MinimumInterval.Ticks;
    private static Timer? s_timer;

    public static void After(Connection connection)
    {
        if (connection.PeakPendingOutputBytes < Threshold) return;
        long now = Environment.TickCount64;
        long last = Volatile.Read(ref s_scheduledAt);
        if (now - last < (long)MinimumInterval.TotalMilliseconds || Interlocked.CompareExchange(ref s_scheduledAt, now, last) != last) return;
        var timer = new Timer(static _ => GC.Collect(2, GCCollectionMode.Forced, blocking: false, compacting: true));
        Interlocked.Exchange(ref s_timer, timer)?.Dispose();
        timer.Change(Delay, Timeout.InfiniteTimeSpan);
    }
}
