namespace Pgrelay.Sinks.Delivery;

/// <summary>Doubling delays with jitter between an initial and a maximum delay.</summary>
public sealed class Backoff
{
    private readonly TimeSpan _initial, _maximum;
    private TimeSpan _next;

    public Backoff(TimeSpan initial, TimeSpan maximum)
    {
        _initial = initial;
        _maximum = maximum < initial ? initial : maximum;
        _next = initial;
    }

    public TimeSpan Next()
    {
        var delay = _next;
        _next = TimeSpan.FromTicks(Math.Min(_maximum.Ticks, _next.Ticks * 2));
        // Jitter so several failing sinks (or pgrelay processes) do not retry in lock step.
        return delay * (0.8 + Random.Shared.NextDouble() * 0.4);
    }

    public void Reset() => _next = _initial;
}
