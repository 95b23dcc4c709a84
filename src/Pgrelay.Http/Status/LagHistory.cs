namespace Pgrelay.Http.Status;

/// <summary>
/// The last <see cref="Capacity"/> lag samples, oldest first. Kept on the server (not in the page) so a
/// dashboard opened during an incident shows the lag that led up to it, not just what happens after.
/// Written once a second by <see cref="LagSampler"/>, read by status requests: a lock is cheap enough.
/// </summary>
public sealed class LagHistory(int capacity = LagHistory.DefaultCapacity)
{
    /// <summary>Ten minutes at one sample a second.</summary>
    public const int DefaultCapacity = 600;

    private readonly LagSample[] _ring = new LagSample[Math.Max(1, capacity)];
    private readonly Lock _lock = new();
    private int _next, _count;

    public int Capacity => _ring.Length;

    public void Record(LagSample sample)
    {
        lock (_lock)
        {
            _ring[_next] = sample;
            _next = (_next + 1) % _ring.Length;
            if (_count < _ring.Length) _count++;
        }
    }

    /// <summary>Samples taken strictly after <paramref name="after"/>, oldest first: a poller asks only for what it lacks.</summary>
    public List<LagSample> After(DateTimeOffset after)
    {
        var samples = new List<LagSample>();
        lock (_lock)
        {
            int start = (_next - _count + _ring.Length) % _ring.Length;
            for (int i = 0; i < _count; i++)
            {
                var sample = _ring[(start + i) % _ring.Length];
                if (sample.Time > after) samples.Add(sample);
            }
        }
        return samples;
    }
}
