namespace Pgrelay.Resp.Acl;

/// <summary>One ACL LOG entry: repeats of the same denial within a minute are counted on one entry, as in Redis.</summary>
public sealed class AclLogEntry(string reason, string context, string target, string userName, string clientInfo, DateTimeOffset at)
{
    public string Reason { get; } = reason;
    public string Context { get; } = context;
    /// <summary>What was refused: the command's full name, the key, the channel, or "AUTH".</summary>
    public string Object { get; } = target;
    public string UserName { get; } = userName;
    public long Count { get; internal set; } = 1;
    public string ClientInfo { get; internal set; } = clientInfo;
    public DateTimeOffset LastAt { get; internal set; } = at;
}

/// <summary>
/// Recent ACL denials and failed logins, newest first, bounded like Redis's acllog-max-len.
/// </summary>
public sealed class AclLog
{
    public const int MaxEntries = 128;
    private static readonly TimeSpan GroupingWindow = TimeSpan.FromSeconds(60);

    private readonly object _gate = new();
    private readonly LinkedList<AclLogEntry> _entries = new();

    public void Add(AclDenial denial, bool inMulti, string target, string userName, string clientInfo)
    {
        var reason = denial switch
        {
            AclDenial.Command => "command",
            AclDenial.Key => "key",
            AclDenial.Channel => "channel",
            _ => "auth",
        };
        var context = inMulti ? "multi" : "toplevel";
        var now = DateTimeOffset.UtcNow;
        lock (_gate)
        {
            for (var node = _entries.First; node is not null; node = node.Next)
            {
                var e = node.Value;
                if (e.Reason == reason && e.Context == context && e.Object == target && e.UserName == userName && now - e.LastAt < GroupingWindow)
                {
                    e.Count++;
                    e.LastAt = now;
                    e.ClientInfo = clientInfo;
                    _entries.Remove(node);
                    _entries.AddFirst(node);
                    return;
                }
            }
            _entries.AddFirst(new AclLogEntry(reason, context, target, userName, clientInfo, now));
            if (_entries.Count > MaxEntries) _entries.RemoveLast();
        }
    }

    public IReadOnlyList<AclLogEntry> Newest(int count)
    {
        lock (_gate) return _entries.Take(Math.Max(count, 0)).ToArray();
    }

    public void Reset()
    {
        lock (_gate) _entries.Clear();
    }
}
