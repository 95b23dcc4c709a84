using System.Net;

namespace Pgrelay.Resp;

/// <summary>Settings of the Redis-protocol listener, bound by the host from flags, environment or file.</summary>
public sealed class RespOptions
{
    public bool Enabled { get; set; } = true;
    public IPAddress BindAddress { get; set; } = IPAddress.Loopback;
    public int Port { get; set; } = 6379;

    /// <summary>Redis <c>maxclients</c>: connections beyond this get <c>-ERR max number of clients reached</c> and are closed.</summary>
    public int MaxClients { get; set; } = 10_000;

    /// <summary>Redis <c>timeout</c>: a client idle this long is closed (pub/sub clients excepted). Zero: never.</summary>
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.Zero;

    /// <summary>Redis <c>client-query-buffer-limit</c>: the most a request still arriving may buffer before the client is closed.</summary>
    public long QueryBufferLimit { get; set; } = 1024L * 1024 * 1024;

    /// <summary>Redis <c>proto-max-bulk-len</c>: the longest argument a client may announce.</summary>
    public long ProtoMaxBulkLength { get; set; } = 512L * 1024 * 1024;

    /// <summary>Redis <c>client-output-buffer-limit normal</c> (default 0 0 0: none).</summary>
    public Transport.OutputBufferLimit OutputLimitNormal { get; set; } = Transport.OutputBufferLimit.None;

    /// <summary>
    /// Redis <c>client-output-buffer-limit pubsub</c> (default 32mb 8mb 60): bounds what a subscriber lets pile up. It
    /// also applies to clients with CLIENT TRACKING on, whose output is mostly invalidations the server pushes.
    /// </summary>
    public Transport.OutputBufferLimit OutputLimitPubSub { get; set; } = Transport.OutputBufferLimit.PubSubDefault;

    /// <summary>Tracked keys kept for CLIENT TRACKING default mode before the oldest entries are invalidated (tracking-table-max-keys).</summary>
    public int MaxTrackedKeys { get; set; } = 1_000_000;

    /// <summary>Password of the <c>default</c> user (Redis's requirepass). Null: no password.</summary>
    public string? Password { get; set; }

    /// <summary>An ACL file in Redis syntax (<c>user alice on &gt;secret ~app.* +@read</c>), loaded at start.</summary>
    public string? AclFile { get; set; }

    /// <summary>Refuse to listen beyond loopback unless clients must authenticate (Redis's protected-mode).</summary>
    public bool ProtectedMode { get; set; } = true;

    /// <summary>Reported as INFO's redis_version and HELLO's version: clients use it to pick features.</summary>
    public string ReportedRedisVersion { get; set; } = "7.0.15";

    public Protocol.RespLimits Limits => new(ProtoMaxBulkLength);

    /// <summary>What the transport enforces on each Redis connection.</summary>
    public Transport.ConnectionLimits ConnectionLimits => new()
    {
        IdleTimeout = IdleTimeout,
        QueryBufferLimit = QueryBufferLimit,
        Normal = OutputLimitNormal,
        PubSub = OutputLimitPubSub,
    };

    /// <summary>
    /// Checks the settings as the host starts; throws <see cref="InvalidOperationException"/> with one line
    /// naming the setting. Also loads the ACL file, so a broken one stops start-up instead of the first login.
    /// </summary>
    /// <summary>A request is held in one array, so no limit can pass what an array holds.</summary>
    private const long MaxBuffer = 2047L * 1024 * 1024;

    public void Validate()
    {
        if (Port is < 0 or > 65535) throw new InvalidOperationException($"resp.port: {Port} is not a TCP port (0-65535)");
        if (MaxClients < 1) throw new InvalidOperationException($"maxclients: must be at least 1 (got {MaxClients})");
        if (IdleTimeout < TimeSpan.Zero) throw new InvalidOperationException($"timeout: must not be negative (got {IdleTimeout.TotalSeconds}s)");
        if (QueryBufferLimit is < 1024 * 1024 or > MaxBuffer)
            throw new InvalidOperationException($"client-query-buffer-limit: must be 1mb to 2047mb (got {QueryBufferLimit})");
        if (ProtoMaxBulkLength is < 1024 * 1024 or > MaxBuffer)
            throw new InvalidOperationException($"proto-max-bulk-len: must be 1mb to 2047mb (got {ProtoMaxBulkLength})");
        // The names below are Redis's settings, which pgrelay's settings share (requirepass, aclfile, protected-mode).
        if (Password is { Length: 0 }) throw new InvalidOperationException("requirepass: is empty; leave it unset for no password");
        var users = Acl.AclStore.Create(this);
        // Refused at start as well as per connection (Acl.ProtectedMode): a listener no remote client could use is a
        // mistake better named now than found later as a wall of DENIED replies.
        if (ProtectedMode && !IPAddress.IsLoopback(BindAddress) && Acl.ProtectedMode.OpensToEveryone(users))
            throw new InvalidOperationException(
                $"resp: refusing to serve Redis clients on {BindAddress}:{Port} while the default user needs no password (protected mode); " +
                "set requirepass, give the default user a password in the aclfile (or turn it off without nopass), bind to 127.0.0.1, or set protected-mode no");
    }
}
