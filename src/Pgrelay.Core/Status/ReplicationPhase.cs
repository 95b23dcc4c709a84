namespace Pgrelay.Core.Status;

public enum ReplicationPhase
{
    Starting,
    Snapshotting,
    Streaming,
    Reconnecting,
    Failed,
    Stopped,
}
