using Pgrelay.Core.Model;

namespace Pgrelay.Store.Snapshots;

/// <summary>
/// A consistent read snapshot: while held, every read through it sees the store exactly as of
/// <see cref="Lsn"/>, and maintenance keeps the versions it needs. Dispose promptly.
/// </summary>
public sealed class StorePin : IDisposable
{
    private readonly PinRegistry? _registry;

    internal StorePin(PinRegistry? registry, Lsn lsn)
    {
        _registry = registry;
        Lsn = lsn;
    }

    public Lsn Lsn { get; }

    public void Dispose() => _registry?.Release(this);
}
