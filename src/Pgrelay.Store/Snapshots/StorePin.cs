using Pgrelay.Core.Model;

namespace Pgrelay.Store.Snapshots;

/// <summary>
/// A consistent read snapshot: while held, every read through it sees the store exactly as of
/// <see cref="Lsn"/>, and maintenance keeps the versions it needs. Dispose promptly; disposing twice is harmless.
/// A released pin can be pinned again with <see cref="ReplicatedStore.Repin"/>, so a connection that pins for
/// every multi-key request keeps one pin object instead of allocating one per request.
/// </summary>
public sealed class StorePin : IDisposable
{
    private readonly PinRegistry _registry;
    private ulong _lsn;
    private bool _held;

    internal StorePin(PinRegistry registry) => _registry = registry;

    public Lsn Lsn => new(Volatile.Read(ref _lsn));

    /// <summary>True between pinning and <see cref="Dispose"/>.</summary>
    public bool IsHeld => Volatile.Read(ref _held);

    internal PinRegistry Registry => _registry;

    // Both run under the registry's lock, which is what orders them against the writer's horizon.
    internal void Hold(ulong lsn)
    {
        Volatile.Write(ref _lsn, lsn);
        Volatile.Write(ref _held, true);
    }

    internal void MarkReleased() => Volatile.Write(ref _held, false);

    public void Dispose() => _registry.Release(this);
}
