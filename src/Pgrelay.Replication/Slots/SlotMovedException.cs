namespace Pgrelay.Replication.Slots;

/// <summary>The slot cannot give this instance what its store lacks: it was moved past it, dropped and recreated, or
/// invalidated. Replication starts over from a fresh snapshot.</summary>
public sealed class SlotMovedException(string message) : Exception(message);
