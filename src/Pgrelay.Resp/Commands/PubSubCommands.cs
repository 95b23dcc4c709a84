using System.Text;
using Pgrelay.Resp.Protocol;
using Pgrelay.Resp.Server;

namespace Pgrelay.Resp.Commands;

/// <summary>
/// Pub/sub. Besides what clients PUBLISH, the server publishes keyspace notifications for every committed
/// change (see <see cref="PubSub.NotificationHub"/>).
/// </summary>
internal static class PubSubCommands
{
    public static void Subscribe(RespSession session, RespRequest request, RespWriter writer) => Add(session, request, writer, pattern: false);
    public static void PSubscribe(RespSession session, RespRequest request, RespWriter writer) => Add(session, request, writer, pattern: true);
    public static void Unsubscribe(RespSession session, RespRequest request, RespWriter writer) => Remove(session, request, writer, pattern: false);
    public static void PUnsubscribe(RespSession session, RespRequest request, RespWriter writer) => Remove(session, request, writer, pattern: true);

    /// <summary>Channel permissions were checked by the dispatcher (see <see cref="ChannelArguments"/>).</summary>
    private static void Add(RespSession session, RespRequest request, RespWriter writer, bool pattern)
    {
        for (int i = 1; i < request.Count; i++)
        {
            var name = request.ArgString(i);
            int count = session.Server.Hub.Subscribe(session, name, pattern);
            writer.WritePushHeader(3);
            writer.WriteBulk(pattern ? "psubscribe"u8 : "subscribe"u8);
            writer.WriteBulk(request[i]);
            writer.WriteInteger(count);
        }
    }

    private static void Remove(RespSession session, RespRequest request, RespWriter writer, bool pattern)
    {
        var kind = pattern ? "punsubscribe"u8 : "unsubscribe"u8;
        var names = request.Count > 1
            ? Enumerable.Range(1, request.Count - 1).Select(request.ArgString).ToArray()
            : session.Subscriptions(pattern);
        if (names.Length == 0)
        {
            writer.WritePushHeader(3);
            writer.WriteBulk(kind);
            writer.WriteNull();
            writer.WriteInteger(session.SubscriptionCount);
            return;
        }
        foreach (var name in names)
        {
            int count = session.Server.Hub.Unsubscribe(session, name, pattern);
            writer.WritePushHeader(3);
            writer.WriteBulk(kind);
            writer.WriteBulk(name);
            writer.WriteInteger(count);
        }
    }

    public static void Publish(RespSession session, RespRequest request, RespWriter writer) =>
        writer.WriteInteger(session.Server.Hub.Publish(request[1].ToArray(), request[2].ToArray()));

    public static void SSubscribe(RespSession session, RespRequest request, RespWriter writer)
    {
        for (int i = 1; i < request.Count; i++)
        {
            int count = session.Server.Hub.SubscribeShard(session, request.ArgString(i));
            writer.WritePushHeader(3);
            writer.WriteBulk("ssubscribe"u8);
            writer.WriteBulk(request[i]);
            writer.WriteInteger(count);
        }
    }

    public static void SUnsubscribe(RespSession session, RespRequest request, RespWriter writer)
    {
        var names = request.Count > 1
            ? Enumerable.Range(1, request.Count - 1).Select(request.ArgString).ToArray()
            : session.ShardSubscriptions();
        if (names.Length == 0)
        {
            writer.WritePushHeader(3);
            writer.WriteBulk("sunsubscribe"u8);
            writer.WriteNull();
            writer.WriteInteger(0);
            return;
        }
        foreach (var name in names)
        {
            int count = session.Server.Hub.UnsubscribeShard(session, name);
            writer.WritePushHeader(3);
            writer.WriteBulk("sunsubscribe"u8);
            writer.WriteBulk(name);
            writer.WriteInteger(count);
        }
    }

    public static void SPublish(RespSession session, RespRequest request, RespWriter writer) =>
        writer.WriteInteger(session.Server.Hub.PublishShard(request[1].ToArray(), request[2].ToArray()));

    public static void PubSub(RespSession session, RespRequest request, RespWriter writer)
    {
        var hub = session.Server.Hub;
        byte[]? Pattern() => request.Count > 2 ? request[2].ToArray() : null;
        if (request.Is(1, "channels"u8)) WriteChannels(writer, hub.ActiveChannels(Pattern()));
        else if (request.Is(1, "numsub"u8)) WriteSubscriberCounts(request, writer, hub.SubscriberCount);
        else if (request.Is(1, "numpat"u8)) writer.WriteInteger(hub.PatternCount);
        else if (request.Is(1, "shardchannels"u8)) WriteChannels(writer, hub.ActiveShardChannels(Pattern()));
        else if (request.Is(1, "shardnumsub"u8)) WriteSubscriberCounts(request, writer, hub.ShardSubscriberCount);
        else if (request.Is(1, "help"u8))
            KeyCommands.WriteHelp(writer, ["PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "CHANNELS [<pattern>]", "NUMPAT", "NUMSUB [<channel> ...]", "SHARDCHANNELS [<pattern>]", "SHARDNUMSUB [<shardchannel> ...]", "HELP"]);
        else writer.WriteError($"ERR unknown subcommand '{request.ArgString(1)}'. Try PUBSUB HELP.");
    }

    private static void WriteChannels(RespWriter writer, IReadOnlyList<string> channels)
    {
        writer.WriteArrayHeader(channels.Count);
        foreach (var c in channels) writer.WriteBulk(c);
    }

    /// <summary>NUMSUB / SHARDNUMSUB: each named channel and its subscriber count, in request order.</summary>
    private static void WriteSubscriberCounts(RespRequest request, RespWriter writer, Func<string, int> count)
    {
        writer.WriteMapHeader(request.Count - 2);
        for (int i = 2; i < request.Count; i++)
        {
            writer.WriteBulk(request[i]);
            writer.WriteInteger(count(Encoding.UTF8.GetString(request[i])));
        }
    }
}
