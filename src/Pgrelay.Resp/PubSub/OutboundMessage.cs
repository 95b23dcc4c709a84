using Pgrelay.Resp.Server;

namespace Pgrelay.Resp.PubSub;

/// <summary>Something sent to a client outside a reply: a pub/sub message or a tracking invalidation.</summary>
public abstract class OutboundMessage
{
    /// <summary>Approximate bytes on the wire, counted against the client's output limit.</summary>
    public abstract int Size { get; }

    /// <summary>Writes the message in the client's protocol; called with the connection's write gate held.</summary>
    public abstract void Write(RespSession session);
}

/// <summary><c>message</c> (SUBSCRIBE) or <c>pmessage</c> (PSUBSCRIBE): a push in RESP3, an array in RESP2.</summary>
public sealed class PubSubMessage(byte[] channel, byte[] payload, byte[]? pattern) : OutboundMessage
{
    public override int Size => channel.Length + payload.Length + (pattern?.Length ?? 0) + 48;

    public override void Write(RespSession session)
    {
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

/// <summary>A tracking invalidation for one key, or for everything when the key is null.</summary>
public sealed class InvalidationMessage(byte[]? key, bool viaPubSub) : OutboundMessage
{
    public const string Channel = "__redis__:invalidate";
    private static readonly byte[] ChannelBytes = "__redis__:invalidate"u8.ToArray();

    public override int Size => (key?.Length ?? 0) + 64;

    public override void Write(RespSession session)
    {
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
