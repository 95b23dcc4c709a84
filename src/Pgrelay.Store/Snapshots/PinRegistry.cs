namespace Pgrelay.Store.Snapshots;

/// <summary>
/// Tracks pinned snapshots so the writer knows how far back versions are still needed. Pins are for
/// multi-key reads (MULTI/EXEC, pages, memcached multi-gets); single-key reads need none. Taking a pin
/// and computing the horizon share one lock, so a pin can never land below a horizon already used for
/// pruning. The lock is held for a few instructions and nothing here allocates once a pin object exists:
/// held pins sit in a plain array that grows rarely.
/// </summary>
internal sealed class PinRegistry(Func<ulong> visible)
{
    private readonly object _gate = new();
    private StorePin?[] _held = new StorePin?[16];
    private int _count;

    public StorePin Pin()
    {
        var pin = new StorePin(this);
        Repin(pin);
        return pin;
    }

    /// <summary>Pins a released pin again at the latest visible LSN.</summary>
    public void Repin(StorePin pin)
    {
        if (!ReferenceEquals(pin.Registry, this)) throw new ArgumentException("the pin belongs to another store", nameof(pin));
        lock (_gate)
        {
            if (pin.IsHeld) throw new InvalidOperationException("the pin is still held; dispose it before pinning it again");
            if (_count == _held.Length) Array.Resize(ref _held, _count * 2);
            _held[_count++] = pin;
            pin.Hold(visible());
        }
    }

    public void Release(StorePin pin)
    {
        lock (_gate)
        {
            if (!pin.IsHeld) return;
            pin.MarkReleased();
            for (int i = 0; i < _count; i++)
            {
                if (!ReferenceEquals(_held[i], pin)) continue;
                _held[i] = _held[--_count];   // order does not matter: the horizon is a minimum
                _held[_count] = null;
                return;
            }
        }
    }

    /// <summary>The oldest LSN any reader may still read at.</summary>
    public ulong Horizon(ulong visibleNow)
    {
        lock (_gate)
        {
            ulong horizon = visibleNow;
            for (int i = 0; i < _count; i++) horizon = Math.Min(horizon, _held[i]!.Lsn.Value);
            return horizon;
        }
    }

    public int Count { get { lock (_gate) return _count; } }
}
