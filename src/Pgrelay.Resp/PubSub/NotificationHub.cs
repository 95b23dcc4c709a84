using System.Text;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Pgrelay.Core.Changes;
using Pgrelay.Core.Keys;
using Pgrelay.Resp.Keyspace;
using Pgrelay.Resp.Server;
using Pgrelay.Store.Feed;

namespace Pgrelay.Resp.PubSub;

/// <summary>
/// Channels and patterns, and the bridge from the store's change feed to them. Every committed change is
/// announced the way Redis's notify-keyspace-events does: <c>__keyspace@0__:pub.table.key</c> carries the event
/// (hset or del) and <c>__keyevent@0__:hset</c> carries the key. The feed calls us on the replication writer
/// thread, so the listener only enqueues; a pump turns transactions into messages and invalidations.
/// </summary>
public sealed class NotificationHub : IDisposable
{
    public const string KeyspacePrefix = "__keyspace@0__:";
    public const string KeyeventPrefix = "__keyevent@0__:";

    private static readonly byte[] HsetEvent = "hset"u8.ToArray();
    private static readonly byte[] DelEvent = "del"u8.ToArray();

    private readonly RespServer _server;
    private readonly object _gate = new();
    private readonly Dictionary<string, HashSet<RespSession>> _channels = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (byte[] Pattern, HashSet<RespSession> Sessions)> _patterns = new(StringComparer.Ordinal);
    /// <summary>Shard channels (SSUBSCRIBE/SPUBLISH) are a namespace of their own; one server is one shard.</summary>
    private readonly Dictionary<string, HashSet<RespSession>> _shardChannels = new(StringComparer.Ordinal);
    private readonly Channel<CommittedTransaction> _committed = Channel.CreateUnbounded<CommittedTransaction>(new() { SingleReader = true });
    private readonly IDisposable _listening;
    private readonly Task _pump;
    private int _subscriptions;

    internal NotificationHub(RespServer server)
    {
        _server = server;
        _listening = server.Store.Feed.Listen(OnCommitted);
        _pump = Task.Run(PumpAsync);
    }

    private bool HasSubscribers => Volatile.Read(ref _subscriptions) > 0;

    private void OnCommitted(CommittedTransaction transaction)
    {
        if (HasSubscribers || _server.Tracking.HasClients) _committed.Writer.TryWrite(transaction);
    }

    // ---------------- subscriptions ----------------

    /// <summary>Adds a subscription; returns the session's subscription count afterwards.</summary>
    public int Subscribe(RespSession session, string name, bool pattern)
    {
        if (session.AddSubscription(name, pattern))
        {
            lock (_gate)
            {
                if (pattern)
                {
                    if (!_patterns.TryGetValue(name, out var entry)) _patterns[name] = entry = (Encoding.UTF8.GetBytes(name), []);
                    entry.Sessions.Add(session);
                }
                else
                {
                    if (!_channels.TryGetValue(name, out var sessions)) _channels[name] = sessions = [];
                    sessions.Add(session);
                }
                _subscriptions++;
            }
        }
        return session.SubscriptionCount;
    }

    public int Unsubscribe(RespSession session, string name, bool pattern)
    {
        if (session.RemoveSubscription(name, pattern))
        {
            lock (_gate)
            {
                if (pattern)
                {
                    if (_patterns.TryGetValue(name, out var entry) && entry.Sessions.Remove(session) && entry.Sessions.Count == 0) _patterns.Remove(name);
                }
                else if (_channels.TryGetValue(name, out var sessions) && sessions.Remove(session) && sessions.Count == 0)
                {
                    _channels.Remove(name);
                }
                _subscriptions--;
            }
        }
        return session.SubscriptionCount;
    }

    /// <summary>SSUBSCRIBE; returns the session's shard subscription count afterwards.</summary>
    public int SubscribeShard(RespSession session, string channel)
    {
        if (session.AddShardSubscription(channel))
        {
            lock (_gate)
            {
                if (!_shardChannels.TryGetValue(channel, out var sessions)) _shardChannels[channel] = sessions = [];
                sessions.Add(session);
            }
        }
        return session.ShardSubscriptionCount;
    }

    public int UnsubscribeShard(RespSession session, string channel)
    {
        if (session.RemoveShardSubscription(channel))
        {
            lock (_gate)
            {
                if (_shardChannels.TryGetValue(channel, out var sessions) && sessions.Remove(session) && sessions.Count == 0) _shardChannels.Remove(channel);
            }
        }
        return session.ShardSubscriptionCount;
    }

    /// <summary>SPUBLISH: delivers to the shard channel's subscribers only (no patterns, no keyspace events).</summary>
    public int PublishShard(byte[] channel, byte[] message)
    {
        RespSession[] targets;
        lock (_gate)
        {
            if (_shardChannels.Count == 0 || !_shardChannels.TryGetValue(Encoding.UTF8.GetString(channel), out var sessions)) return 0;
            targets = [.. sessions];
        }
        foreach (var session in targets) session.Push(new ShardMessage(channel, message));
        return targets.Length;
    }

    public IReadOnlyList<string> ActiveShardChannels(byte[]? pattern)
    {
        lock (_gate) return _shardChannels.Keys.Where(c => pattern is null || GlobPattern.IsMatch(pattern, Encoding.UTF8.GetBytes(c))).ToArray();
    }

    public int ShardSubscriberCount(string channel)
    {
        lock (_gate) return _shardChannels.TryGetValue(channel, out var s) ? s.Count : 0;
    }

    internal void RemoveAll(RespSession session)
    {
        foreach (var c in session.ShardSubscriptions()) UnsubscribeShard(session, c);
        foreach (var c in session.Subscriptions(pattern: false)) Unsubscribe(session, c, pattern: false);
        foreach (var p in session.Subscriptions(pattern: true)) Unsubscribe(session, p, pattern: true);
    }

    /// <summary>
    /// Delivers to subscribers of the channel and of matching patterns; returns how many received it. A notification
    /// about a key passes <paramref name="key"/>: it then reaches only connections whose user may read that key, decided
    /// here before anything is queued, so a hidden key costs no queue space and counts against no output limit.
    /// </summary>
    public int Publish(byte[] channel, byte[] message, byte[]? key = null)
    {
        if (!HasSubscribers) return 0;
        var targets = new List<(RespSession Session, byte[]? Pattern)>();
        lock (_gate)
        {
            if (_channels.Count > 0 && _channels.TryGetValue(Encoding.UTF8.GetString(channel), out var sessions))
                foreach (var s in sessions) targets.Add((s, null));
            foreach (var (pattern, entry) in _patterns.Values)
                if (GlobPattern.IsMatch(pattern, channel))
                    foreach (var s in entry) targets.Add((s, pattern));
        }
        if (key is null)
        {
            foreach (var (session, pattern) in targets) session.Push(new PubSubMessage(channel, message, pattern));
            return targets.Count;
        }
        int delivered = 0;
        foreach (var (session, pattern) in targets)
        {
            var permissions = session.User.Permissions;
            if (!permissions.CanReadKey(key)) continue;
            session.Push(new PubSubMessage(channel, message, pattern, key, permissions));
            delivered++;
        }
        return delivered;
    }

    public IReadOnlyList<string> ActiveChannels(byte[]? pattern)
    {
        lock (_gate) return _channels.Keys.Where(c => pattern is null || GlobPattern.IsMatch(pattern, Encoding.UTF8.GetBytes(c))).ToArray();
    }

    public int SubscriberCount(string channel)
    {
        lock (_gate) return _channels.TryGetValue(channel, out var s) ? s.Count : 0;
    }

    public int PatternCount { get { lock (_gate) return _patterns.Count; } }
    public int ChannelCount { get { lock (_gate) return _channels.Count; } }

    // ---------------- change feed -> notifications ----------------

    private async Task PumpAsync()
    {
        var reader = _committed.Reader;
        while (await reader.WaitToReadAsync())
        {
            while (reader.TryRead(out var transaction))
            {
                try
                {
                    Announce(transaction);
                }
                catch (Exception e)
                {
                    _server.Logger.LogError(e, "Announcing transaction {Lsn} to Redis clients failed", transaction.CommitLsn);
                }
            }
        }
    }

    private void Announce(CommittedTransaction transaction)
    {
        bool publish = HasSubscribers, track = _server.Tracking.HasClients;
        if (!publish && !track) return;
        foreach (var change in transaction.Changes)
        {
            switch (change.Kind)
            {
                case ChangeKind.Insert:
                case ChangeKind.Update:
                    if (change.Before is { } before && change.After is { } after && !SameKey(change, before, after))
                        AnnounceKey(change, before, change.BeforeCopy, DelEvent, publish, track);   // the key itself changed: the old one is gone
                    AnnounceKey(change, change.After!, change.AfterCopy, HsetEvent, publish, track);
                    break;
                case ChangeKind.Delete:
                    AnnounceKey(change, change.Before!, change.BeforeCopy, DelEvent, publish, track);
                    break;
                case ChangeKind.Truncate:
                case ChangeKind.Relation:
                    if (publish)
                        foreach (var publication in change.Unpublished ?? _server.Keyspace.PublicationsOf(change.Table))
                            Publish(Encoding.UTF8.GetBytes(KeyeventPrefix + "truncate"),
                                Encoding.UTF8.GetBytes(publication.KeyName + "." + change.Schema.KeyName));
                    if (track) _server.Tracking.InvalidateAll();
                    break;
            }
        }
    }

    private static bool SameKey(in AppliedChange change, byte[] before, byte[] after) =>
        CacheKey.RowKeyString(new(before), change.Schema, change.BeforeCopy) == CacheKey.RowKeyString(new(after), change.Schema, change.AfterCopy);

    private void AnnounceKey(in AppliedChange change, byte[] row, int copy, byte[] eventName, bool publish, bool track)
    {
        foreach (var publication in _server.Keyspace.PublicationsOf(change.Table))
        {
            var buffer = new System.Buffers.ArrayBufferWriter<byte>(64);
            CacheKey.WriteFullKey(publication.Utf8KeyName, new(row), change.Schema, buffer, copy);
            var key = buffer.WrittenSpan.ToArray();
            if (track) _server.Tracking.Invalidate(key);
            if (!publish) continue;
            Publish([.. KeyspacePrefixBytes, .. key], eventName, key);
            Publish([.. KeyeventPrefixBytes, .. eventName], key, key);
        }
    }

    private static readonly byte[] KeyspacePrefixBytes = Encoding.UTF8.GetBytes(KeyspacePrefix);
    private static readonly byte[] KeyeventPrefixBytes = Encoding.UTF8.GetBytes(KeyeventPrefix);

    public void Dispose()
    {
        _listening.Dispose();
        _committed.Writer.TryComplete();
        _pump.Wait(TimeSpan.FromSeconds(5));
    }
}
