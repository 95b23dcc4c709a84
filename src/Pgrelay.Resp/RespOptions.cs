using System.Net;

namespace Pgrelay.Resp;

/// <summary>Settings of the Redis-protocol listener, bound by the host from flags, environment or file.</summary>
public sealed class RespOptions
{
    public bool Enabled { get; set; } = true;
    public IPAddress BindAddress { get; set; } = IPAddress.Loopback;
    public int Port { get; set; } = 6379;

    /// <summary>Connections beyond this get <c>-ERR max number of clients reached</c> and are closed.</summary>
    public int MaxClients { get; set; } = 10_000;

    /// <summary>Largest single argument a client may send. Requests here are keys and field names, so 1 MiB is plenty.</summary>
    public int MaxBulkLength { get; set; } = 1024 * 1024;

    /// <summary>Most arguments in one request (HMGET with many fields, EXISTS with many keys).</summary>
    public int MaxArguments { get; set; } = 65_536;

    /// <summary>Longest inline (telnet-style) command line.</summary>
    public int MaxInlineLength { get; set; } = 64 * 1024;

    /// <summary>Bytes of pub/sub messages and invalidations queued for one slow client before it is disconnected (Redis's client-output-buffer-limit pubsub).</summary>
    public long PubSubOutputLimitBytes { get; set; } = 32L * 1024 * 1024;

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

    public Protocol.RespLimits Limits => new(MaxBulkLength, MaxArguments, MaxInlineLength);

    /// <summary>
    /// Checks the settings as the host starts; throws <see cref="InvalidOperationException"/> with one line
    /// naming the setting. Also loads the ACL file, so a broken one stops start-up instead of the first login.
    /// </summary>
    public void Validate()
    {
        if (Port is < 0 or > 65535) throw new InvalidOperationException($"resp.port: {Port} is not a TCP port (0-65535)");
        if (MaxClients < 1) throw new InvalidOperationException($"resp.max-clients: must be at least 1 (got {MaxClients})");
        if (MaxBulkLength < 1024) throw new InvalidOperationException($"resp.max-bulk-length: must be at least 1024 (got {MaxBulkLength})");
        if (MaxArguments < 16) throw new InvalidOperationException($"resp.max-arguments: must be at least 16 (got {MaxArguments})");
        if (MaxInlineLength < 1024) throw new InvalidOperationException($"resp.max-inline-length: must be at least 1024 (got {MaxInlineLength})");
        if (PubSubOutputLimitBytes < 1024) throw new InvalidOperationException($"resp.pubsub-output-limit: must be at least 1024 bytes (got {PubSubOutputLimitBytes})");
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
