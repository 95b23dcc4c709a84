namespace Pgrelay.Transport;

/// <summary>
/// What a listener enforces on each connection, named after the Redis settings they implement. The protocol sets
/// them; the transport enforces them, so RESP and memcached share one implementation.
/// </summary>
public sealed record ConnectionLimits
{
    /// <summary>A batch's replies are sent once they reach this size, before the session goes on.</summary>
    public const int FlushThreshold = 64 * 1024;

    /// <summary>Redis <c>timeout</c>: close a connection idle this long (pub/sub clients excepted). Zero: never.</summary>
    public TimeSpan IdleTimeout { get; init; }

    /// <summary>Redis <c>client-query-buffer-limit</c>: a request still arriving may not buffer more than this.</summary>
    public long QueryBufferLimit { get; init; } = 1024L * 1024 * 1024;

    /// <summary>Redis <c>client-output-buffer-limit normal</c>.</summary>
    public OutputBufferLimit Normal { get; init; } = OutputBufferLimit.None;

    /// <summary>Redis <c>client-output-buffer-limit pubsub</c>.</summary>
    public OutputBufferLimit PubSub { get; init; } = OutputBufferLimit.PubSubDefault;

    /// <summary>A TLS handshake not finished by then ends the connection (a client that never speaks holds nothing).</summary>
    public TimeSpan TlsHandshakeTimeout { get; init; } = TimeSpan.FromSeconds(10);

    public OutputBufferLimit For(OutputLimitClass kind) => kind == OutputLimitClass.PubSub ? PubSub : Normal;
}
