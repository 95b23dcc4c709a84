namespace Pgrelay.Http.Status;

/// <summary>Replication lag at one moment, as the dashboard charts it.</summary>
public readonly record struct LagSample(DateTimeOffset Time, double Seconds, ulong Bytes);
