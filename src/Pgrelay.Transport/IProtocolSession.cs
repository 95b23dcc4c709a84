using System.Net;
using Pgrelay.Transport.Buffers;

namespace Pgrelay.Transport;

/// <summary>
/// A protocol's side of one connection: a consumer of bytes. The transport calls it from one thread at a time (the
/// connection's event loop, or whoever holds a TLS connection's gate), never concurrently.
/// </summary>
public interface IProtocolSession
{
    /// <summary>
    /// Runs the complete requests at the start of <paramref name="input"/>, writing replies to <paramref name="output"/>,
    /// and returns how many bytes it consumed. <paramref name="input"/> always starts at the first byte not consumed
    /// before, so a session may keep parse state for a partial request (offsets from the start) and resume it when more
    /// bytes arrive; what it consumed is never shown again. It may stop early once <paramref name="output"/> holds
    /// <see cref="ConnectionLimits.FlushThreshold"/> bytes; the transport sends them and calls again.
    /// </summary>
    int Consume(ReadOnlySpan<byte> input, OutputBuffer output);

    /// <summary>
    /// Bytes the partial request at the start of the unconsumed input still lacks, when the session knows (a bulk
    /// whose length was announced); 0 otherwise. Only a hint for sizing the next read.
    /// </summary>
    int MissingBytes { get; }

    /// <summary>
    /// Writes the out-of-band messages queued since the last call (pub/sub, invalidations) and returns their total
    /// size as it was announced to <see cref="Connection.TryQueueOutput"/>.
    /// </summary>
    long WritePending(OutputBuffer output);

    /// <summary>Which output buffer limit applies now (Redis's client classes).</summary>
    OutputLimitClass OutputClass { get; }

    /// <summary>True while the idle timeout must not close the connection (Redis spares pub/sub clients).</summary>
    bool ExemptFromIdleTimeout { get; }

    /// <summary>The connection is gone; called once, on the connection's thread or the closer's.</summary>
    void Closed();
}

/// <summary>Builds a protocol session for each accepted connection, once the connection limit let it in.</summary>
public interface ISessionFactory
{
    IProtocolSession Create(Connection connection);

    /// <summary>What a connection beyond the limit is told before it is closed (Redis and memcached each have their words).</summary>
    ReadOnlySpan<byte> RejectionReply { get; }

    /// <summary>Counts a connection refused at the limit (INFO rejected_connections, memcached's rejected_connections).</summary>
    void Rejected();

    /// <summary>
    /// What a connection the limit let in is told before it is closed when the protocol refuses it anyway (Redis's
    /// protected mode), counting the refusal itself; empty to admit it. Asked once per connection, just before its
    /// session would be built: after the TLS handshake on a TLS listener, so the words arrive encrypted as Redis's do.
    /// </summary>
    ReadOnlySpan<byte> Refusal(EndPoint? remote) => default;
}

public enum OutputLimitClass { Normal, PubSub }
