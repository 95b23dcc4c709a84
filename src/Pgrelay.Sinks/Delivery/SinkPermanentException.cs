namespace Pgrelay.Sinks.Delivery;

/// <summary>A delivery that cannot succeed by retrying alone: something at the target must change first (see <see cref="Failures"/>).</summary>
public sealed class SinkPermanentException(string message, Exception? inner = null) : Exception(message, inner);
