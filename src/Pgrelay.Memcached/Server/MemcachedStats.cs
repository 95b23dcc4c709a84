namespace Pgrelay.Memcached.Server;

/// <summary>
/// Server-wide counters behind <c>stats</c>. Sessions count locally and add their counts here once per batch
/// of pipelined commands, so the hot path touches no shared cache line per key.
/// </summary>
public sealed class MemcachedStats
{
    internal long CurrentConnections, TotalConnections, RejectedConnections;
    internal long CmdGet, CmdMeta, CmdTouch, CmdSet, CmdFlush, GetHits, GetMisses, WritesRejected, BytesRead, BytesWritten;

    public long Connections => Interlocked.Read(ref CurrentConnections);
    public long ConnectionsTotal => Interlocked.Read(ref TotalConnections);
    public long ConnectionsRejected => Interlocked.Read(ref RejectedConnections);
    public long Gets => Interlocked.Read(ref CmdGet);
    public long Hits => Interlocked.Read(ref GetHits);
    public long Misses => Interlocked.Read(ref GetMisses);
    public long RejectedWrites => Interlocked.Read(ref WritesRejected);

    /// <summary><c>stats reset</c>: the cumulative counters start again; connection gauges stay.</summary>
    internal void Reset()
    {
        Interlocked.Exchange(ref TotalConnections, 0);
        Interlocked.Exchange(ref RejectedConnections, 0);
        Interlocked.Exchange(ref CmdGet, 0);
        Interlocked.Exchange(ref CmdMeta, 0);
        Interlocked.Exchange(ref CmdTouch, 0);
        Interlocked.Exchange(ref CmdSet, 0);
        Interlocked.Exchange(ref CmdFlush, 0);
        Interlocked.Exchange(ref GetHits, 0);
        Interlocked.Exchange(ref GetMisses, 0);
        Interlocked.Exchange(ref WritesRejected, 0);
        Interlocked.Exchange(ref BytesRead, 0);
        Interlocked.Exchange(ref BytesWritten, 0);
    }
}

/// <summary>One session's counts since it last reported them.</summary>
internal struct SessionCounts
{
    public long CmdGet, CmdMeta, CmdTouch, CmdSet, CmdFlush, GetHits, GetMisses, WritesRejected, BytesRead, BytesWritten;

    public void FlushTo(MemcachedStats stats)
    {
        if (CmdGet != 0) Interlocked.Add(ref stats.CmdGet, CmdGet);
        if (CmdMeta != 0) Interlocked.Add(ref stats.CmdMeta, CmdMeta);
        if (CmdTouch != 0) Interlocked.Add(ref stats.CmdTouch, CmdTouch);
        if (CmdSet != 0) Interlocked.Add(ref stats.CmdSet, CmdSet);
        if (CmdFlush != 0) Interlocked.Add(ref stats.CmdFlush, CmdFlush);
        if (GetHits != 0) Interlocked.Add(ref stats.GetHits, GetHits);
        if (GetMisses != 0) Interlocked.Add(ref stats.GetMisses, GetMisses);
        if (WritesRejected != 0) Interlocked.Add(ref stats.WritesRejected, WritesRejected);
        if (BytesRead != 0) Interlocked.Add(ref stats.BytesRead, BytesRead);
        if (BytesWritten != 0) Interlocked.Add(ref stats.BytesWritten, BytesWritten);
        this = default;
    }
}
