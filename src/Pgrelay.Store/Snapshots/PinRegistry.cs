using Pgrelay.Core.Model;

namespace Pgrelay.Store.Snapshots;

/// <summary>
/// Tracks pinned snapshots so the writer knows how far back versions are still needed. Pins are for
/// multi-key reads (MULTI/EXEC, pages); single-key reads need none. Taking a pin and computing the
/// horizon share one lock, so a pin can never land below a horizon already used for pruning.
/// </summary>
internal sealed class PinRegistry
{
    private readonly object _gate = new();
    private readonly List<StorePin> _pins = [];

    public StorePin Pin(Func<Lsn> visible)
    {
        lock (_gate)
        {
            var pin = new StorePin(this, visible());
            _pins.Add(pin);
            return pin;
        }
    }

    public void Release(StorePin pin)
    {
        lock (_gate) _pins.Remove(pin);
    }

    /// <summary>The oldest LSN any reader may still read at.</summary>
    public ulong Horizon(ulong visible)
    {
        lock (_gate)
        {
            ulong horizon = visible;
            foreach (var pin in _pins) horizon = Math.Min(horizon, pin.Lsn.Value);
            return horizon;
        }
    }

    public int Count { get { lock (_gate) return _pins.Count; } }
}
