namespace Pgrelay.Transport;

/// <summary>
/// One class of Redis's <c>client-output-buffer-limit</c>: a connection whose pending output passes
/// <see cref="HardBytes"/>, or stays above <see cref="SoftBytes"/> for more than <see cref="SoftSeconds"/>, is
/// closed. Zero turns a bound off, as in Redis.
/// </summary>
public readonly record struct OutputBufferLimit(long HardBytes, long SoftBytes, int SoftSeconds)
{
    public static readonly OutputBufferLimit None = new(0, 0, 0);

    /// <summary>Redis 7's default for pub/sub clients: 32mb 8mb 60.</summary>
    public static readonly OutputBufferLimit PubSubDefault = new(32L * 1024 * 1024, 8L * 1024 * 1024, 60);

    public bool IsNone => HardBytes == 0 && SoftBytes == 0;

    /// <summary>
    /// Applies the limit to <paramref name="pending"/> bytes at <paramref name="now"/> (ms ticks), keeping the moment
    /// the soft limit was first passed in <paramref name="softSince"/> (0: not above it). True: close the connection.
    /// Redis checks on every reply it adds; this is called as often, from any thread.
    /// </summary>
    public bool IsExceeded(long pending, long now, ref long softSince)
    {
        if (HardBytes > 0 && pending >= HardBytes) return true;
        if (SoftBytes > 0 && pending >= SoftBytes)
        {
            long since = Interlocked.CompareExchange(ref softSince, now, 0);
            if (since == 0) return false;
            return now - since > SoftSeconds * 1000L;
        }
        if (Volatile.Read(ref softSince) != 0) Interlocked.Exchange(ref softSince, 0);
        return false;
    }
}
