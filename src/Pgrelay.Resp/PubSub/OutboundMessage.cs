using Pgrelay.Resp.Acl;
using Pgrelay.Resp.Server;

namespace Pgrelay.Resp.PubSub;

/// <summary>Something sent to a client outside a reply: a pub/sub message or a tracking invalidation.</summary>
public abstract class OutboundMessage
{
    /// <summary>Approximate bytes on the wire, counted against the client's output limit.</summary>
    public abstract int Size { get; }

    /// <summary>Writes the message in the client's protocol; called with the connection's write gate held.</summary>
    public abstract void Write(RespSession session);

    /// <summary>
    /// A message naming a key was let through for the permissions it was checked against, before it was queued. If the
    /// connection's user or that user's rules changed while it waited (AUTH, RESET, ACL SETUSER run under the same
    /// write gate), it is checked again against the rules in force now. Costs one reference comparison otherwise.
    /// </summary>
    protected static bool StillReadable(RespSession session, byte[]? key, AclPermissions? checkedAgainst)
    {
        if (key is null || checkedAgainst is null) return true;
        var now = session.User.Permissions;
        return ReferenceEquals(now, checkedAgainst) || now.CanReadKey(key);
    }
}

/// <summary>
/// <c>message</c> (SUBSCRIBE) or <c>pmessage</c> (PSUBSCRIBE): a push in RESP3, an array in RESP2. A keyspace or
/// keyevent notification also carries the key it names and the permissions that allowed it (see <see cref="OutboundMessage.StillReadable"/>).
/// </summary>
public sealed class PubSubMessage(byte[] channel, byte[] payload, byte[]? pattern, byte[]? key = null, AclPermissions? checkedAgainst = null)
    : OutboundMessage
{
    public override int Size => channel.Length + payload.Length + (pattern?.Length ?? 0) + 48;

    public override void Write(RespSession session)
    {
        if (!StillReadable(session, key, checkedAgainst)) return;
        var w = session.Writer;
        if (pattern is null)
        {
            w.WritePushHeader(3);
            w.WriteBulk("message"u8);
        }
        else
        {
            w.WritePushHeader(4);
            w.WriteBulk("pmessage"u8);
            w.WriteBulk(pattern);
        }
        w.WriteBulk(channel);
        w.WriteBulk(payload);
    }
}

/// <summary><c>smessage</c> (SSUBSCRIBE): a message published to a shard channel with SPUBLISH.</summary>
public sealed class ShardMessage(byte[] channel, byte[] payload) : OutboundMessage
{
    public override int Size => channel.Length + payload.Length + 48;

    public override void Write(RespSession session)
    {
        var w = session.Writer;
        w.WritePushHeader(3);
        w.WriteBulk("smessage"u8);
        w.WriteBulk(channel);
        w.WriteBulk(payload);
    }
}

/// <summary>
/// A tracking invalidation for one key, or for everything when the key is null. A BCAST invalidation carries the
/// permissions it was checked against; one for a key the client read itself does not (it already knows the name, and
/// dropping it would leave its cache stale).
/// </summary>
public sealed class InvalidationMessage(byte[]? key, bool viaPubSub, AclPermissions? checkedAgainst = null) : OutboundMessage
{
    public const string Channel = "__redis__:invalidate";
    private static readonly byte[] ChannelBytes = "__redis__:invalidate"u8.ToArray();

    public override int Size => (key?.Length ?? 0) + 64;

    public override void Write(RespSession session)
    {
        if (!StillReadable(session, key, checkedAgainst)) return;
        var w = session.Writer;
        if (viaPubSub)
        {
            w.WritePushHeader(3);
            w.WriteBulk("message"u8);
            w.WriteBulk(ChannelBytes);
        }
        else
        {
            w.WritePushHeader(2);
            w.WriteBulk("invalidate"u8);
        }
        if (key is null)
        {
            w.WriteNullArray();
            return;
        }
        w.WriteArrayHeader(1);
        w.WriteBulk(key);
    }
}
