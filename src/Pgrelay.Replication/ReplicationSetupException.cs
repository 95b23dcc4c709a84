namespace Pgrelay.Replication;

/// <summary>
/// A problem the user can fix (wrong wal_level, missing publication, no privilege, unreachable server).
/// <see cref="Exception.Message"/> is one line meant to be printed as-is, without a stack trace.
/// </summary>
public sealed class ReplicationSetupException : Exception
{
    public ReplicationSetupException(string message) : base(message) { }
    public ReplicationSetupException(string message, Exception inner) : base(message, inner) { }

    /// <summary>The source could not be reached for a reason waiting cures (<see cref="Connection.TransientFailure"/>): down,
    /// restarting, starting up. Start-up retries these; every other setup problem stops it.</summary>
    public bool IsTransient => InnerException is { } inner && Connection.TransientFailure.Is(inner);
}
