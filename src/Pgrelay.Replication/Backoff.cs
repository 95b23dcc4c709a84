namespace Pgrelay.Replication;

/// <summary>Retry delays doubling from an initial value up to a maximum.</summary>
internal sealed class Backoff
{
    private readonly TimeSpan _initial, _max;
    private TimeSpan _next;

    public Backoff(TimeSpan initial, TimeSpan max)
    {
        _initial = _next = initial;
        _max = max;
    }

    public TimeSpan Next()
    {
        var delay = _next;
        _next = TimeSpan.FromTicks(Math.Min(_max.Ticks, _next.Ticks * 2));
        return delay;
    }

    public void Reset() => _next = _initial;
}
