namespace Pgrelay.Core.Status;

/// <summary>
/// One reading of what the replication slot makes the server keep: the WAL between the server's current position and
/// the slot's <c>restart_lsn</c>, which PostgreSQL may not remove until pgrelay confirms past it. It grows while pgrelay is
/// down or behind, and a disk full of retained WAL stops the database, so it is reported everywhere status is.
/// </summary>
/// <param name="Exists">False when the slot was not found (not created yet, or dropped by someone).</param>
/// <param name="RetainedBytes"><c>pg_current_wal_lsn() - restart_lsn</c>; null when the slot has no restart_lsn (invalidated).</param>
/// <param name="WalStatus"><c>pg_replication_slots.wal_status</c>: reserved, extended, unreserved or lost.</param>
/// <param name="SafeWalSizeBytes">WAL that can still be written before the slot is in danger of being invalidated; null when
/// <c>max_slot_wal_keep_size</c> is unlimited.</param>
/// <param name="At">When it was read.</param>
public sealed record SlotRetention(bool Exists, long? RetainedBytes, string? WalStatus, long? SafeWalSizeBytes, DateTimeOffset At)
{
    /// <summary>Above a warning threshold (0: no threshold)?</summary>
    public bool Exceeds(long thresholdBytes) => thresholdBytes > 0 && RetainedBytes > thresholdBytes;
}
