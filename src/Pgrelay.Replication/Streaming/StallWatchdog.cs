using Pgrelay.Core.Model;

namespace Pgrelay.Replication.Streaming;

/// <summary>
/// Notices a replication stream that stopped decoding while the server goes on sending: a client that misframes the
/// stream (Npgsql reading a Stream Abort 16 bytes too long was one) can sit waiting for bytes that will never make a
/// message, and from inside it looks exactly like an idle source. Our own heartbeats tell the two apart: each one is a
/// message the server must send. When the decoder has been waiting for longer than <see cref="Timeout"/> and a
/// heartbeat older than that is still not decoded, the session asks the server how far it has sent; past that
/// heartbeat means the bytes came and were not understood, and the session fails loudly instead of hanging.
/// A server still busy before the heartbeat (a long backlog of unpublished WAL) has not sent it: no false alarm.
/// </summary>
internal sealed class StallWatchdog(TimeSpan timeout)
{
    private readonly object _lock = new();
    private (Lsn Lsn, DateTime At)? _oldestUndecodedBeat;
    private DateTime? _waitingSince;

    public TimeSpan Timeout { get; } = timeout;

    /// <summary>The heartbeat emitter wrote a message at <paramref name="lsn"/>; <paramref name="decoded"/> is how far the stream has been decoded.</summary>
    public void OnBeat(Lsn lsn, DateTime at, Lsn decoded)
    {
        lock (_lock)
            if (_oldestUndecodedBeat is not { } beat || beat.Lsn <= decoded) _oldestUndecodedBeat = (lsn, at);
    }

    /// <summary>The session waits for the next message from the server.</summary>
    public void Waiting(DateTime now) { lock (_lock) _waitingSince ??= now; }

    /// <summary>A message arrived.</summary>
    public void Received() { lock (_lock) _waitingSince = null; }

    /// <summary>
    /// The heartbeat the decoder should have seen by now when it is suspiciously quiet, else null. Only a suspicion: the
    /// caller confirms with the server's sent position.
    /// </summary>
    public Lsn? Suspect(DateTime now, Lsn decoded)
    {
        lock (_lock)
        {
            if (_waitingSince is not { } since || now - since < Timeout) return null;
            if (_oldestUndecodedBeat is not { } beat || beat.Lsn <= decoded || now - beat.At < Timeout) return null;
            return beat.Lsn;
        }
    }

    /// <summary>The stream is stalled when the server has sent past a heartbeat the decoder never saw.</summary>
    public static bool Stalled(Lsn suspectedBeat, Lsn serverSent) => serverSent >= suspectedBeat;
}
