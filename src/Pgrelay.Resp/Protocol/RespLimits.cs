namespace Pgrelay.Resp.Protocol;

/// <summary>
/// Bounds on what one request may claim, as Redis 7 has them. <see cref="ProtoMaxBulkLength"/> is Redis's
/// <c>proto-max-bulk-len</c>; the others are Redis constants, not settings there either.
/// </summary>
public readonly record struct RespLimits(long ProtoMaxBulkLength)
{
    /// <summary>Redis's PROTO_INLINE_MAX_SIZE: an inline request, or a multibulk or bulk header, without its line end beyond this is refused.</summary>
    public const int InlineMaxSize = 64 * 1024;

    /// <summary>Before AUTH a client may announce at most this many arguments (Redis 7: "unauthenticated multibulk length").</summary>
    public const int UnauthenticatedMaxArguments = 10;

    /// <summary>Before AUTH no argument may be longer (Redis 7: "unauthenticated bulk length").</summary>
    public const int UnauthenticatedMaxBulk = 16 * 1024;

    /// <summary>A multibulk count above this is "invalid multibulk length" (Redis 7: INT_MAX).</summary>
    public const long MaxArguments = int.MaxValue;

    public static readonly RespLimits Default = new(512L * 1024 * 1024);
}
