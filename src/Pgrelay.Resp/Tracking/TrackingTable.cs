using Pgrelay.Resp.PubSub;
using Pgrelay.Resp.Server;

namespace Pgrelay.Resp.Tracking;

/// <summary>
/// Server-assisted client caching (CLIENT TRACKING). Default mode remembers which clients read which keys
/// and tells each of them once when the key changes; BCAST mode tells every client whose prefixes match
/// about every change. Changes come from the notification hub when a transaction commits, so a client
/// hears about a key only after every row of that transaction is readable.
/// </summary>
public sealed class TrackingTable(RespServer server)
{
    private readonly object _gate = new();
    private readonly Dictionary<byte[], HashSet<long>> _readers = new(ByteKeyComparer.Instance);
    private readonly HashSet<RespSession> _bcast = [];
    private readonly HashSet<RespSession> _tracking = [];
    private int _trackingCount;

    /// <summary>Any client has tracking on: only then does the hub compute keys for invalidation.</summary>
    public bool HasClients => Volatile.Read(ref _trackingCount) > 0;

    public int TrackedKeys { get { lock (_gate) return _readers.Count; } }
    public int TrackingClients => Volatile.Read(ref _trackingCount);

    public void Enable(RespSession session)
    {
        lock (_gate)
        {
            _tracking.Add(session);
            if (session.Tracking.Bcast) _bcast.Add(session); else _bcast.Remove(session);
            _trackingCount = _tracking.Count;
        }
    }

    public void Disable(RespSession session)
    {
        lock (_gate)
        {
            _tracking.Remove(session);
            _bcast.Remove(session);
            _trackingCount = _tracking.Count;
            // Its entries in _readers go lazily: an id that no longer tracks is skipped when the key changes.
        }
    }

    public void Remember(ReadOnlySpan<byte> key, RespSession session)
    {
        lock (_gate)
        {
            var lookup = _readers.GetAlternateLookup<ReadOnlySpan<byte>>();
            if (!lookup.TryGetValue(key, out var readers))
            {
                if (_readers.Count >= server.Options.MaxTrackedKeys) EvictOne();
                readers = [];
                lookup[key] = readers;
            }
            readers.Add(session.Id);
        }
    }

    /// <summary>
    /// A key changed: invalidate it for every client that read it, and for every BCAST client on a matching prefix whose
    /// user may read the key (a key name is data; Redis 7.0 broadcasts it to every prefix match regardless of ACL).
    /// </summary>
    public void Invalidate(byte[] key)
    {
        List<RespSession>? previousReaders = null, broadcast = null;
        lock (_gate)
        {
            if (_readers.Remove(key, out var readers))
            {
                foreach (var id in readers)
                {
                    var session = server.Clients.Find(id);
                    if (session is not null && session.Tracking.Enabled && !session.Tracking.Bcast) (previousReaders ??= []).Add(session);
                }
            }
            foreach (var session in _bcast)
                if (MatchesPrefix(session.Tracking.Prefixes, key)) (broadcast ??= []).Add(session);
        }
        if (previousReaders is not null)
            foreach (var session in previousReaders) Deliver(session, key);
        if (broadcast is not null)
            foreach (var session in broadcast)
                if (session.User.Permissions.CanReadKey(key)) Deliver(session, key, onlyIfReadable: true);
    }

    /// <summary>Everything may have changed (TRUNCATE, schema change): Redis's flush invalidation, a null key list.</summary>
    public void InvalidateAll()
    {
        RespSession[] targets;
        lock (_gate)
        {
            _readers.Clear();
            targets = [.. _tracking];
        }
        foreach (var session in targets) Deliver(session, null);
    }

    private void EvictOne()
    {
        // Like Redis at tracking-table-max-keys: drop a key and tell its readers it is invalid.
        foreach (var (key, readers) in _readers)
        {
            _readers.Remove(key);
            foreach (var id in readers)
                if (server.Clients.Find(id) is { } session) Deliver(session, key);
            return;
        }
    }

    private static bool MatchesPrefix(IReadOnlyList<byte[]> prefixes, byte[] key)
    {
        if (prefixes.Count == 0) return true;
        foreach (var prefix in prefixes)
            if (key.AsSpan().StartsWith(prefix)) return true;
        return false;
    }

    /// <summary>
    /// To the client itself as a RESP3 push, or to its REDIRECT target: a RESP3 push there too, or for RESP2 a
    /// message on <c>__redis__:invalidate</c> when the target subscribed to it (as Redis's tracking.c does).
    /// </summary>
    /// <remarks>
    /// With <paramref name="onlyIfReadable"/> (BCAST) the receiving connection's user must also be allowed the key:
    /// a redirect may point at a connection of another, narrower user.
    /// </remarks>
    private void Deliver(RespSession session, byte[]? key, bool onlyIfReadable = false)
    {
        var redirect = session.Tracking.RedirectId;
        var target = redirect > 0 ? server.Clients.Find(redirect) : session;
        if (target is null) return;
        Acl.AclPermissions? checkedAgainst = null;
        if (onlyIfReadable && key is not null)
        {
            checkedAgainst = target.User.Permissions;
            if (!checkedAgainst.CanReadKey(key)) return;
        }
        if (target.Writer.IsResp3) target.Push(new InvalidationMessage(key, viaPubSub: false, checkedAgainst));
        else if (redirect > 0 && target.IsSubscribedTo(InvalidationMessage.Channel)) target.Push(new InvalidationMessage(key, viaPubSub: true, checkedAgainst));
    }
}
