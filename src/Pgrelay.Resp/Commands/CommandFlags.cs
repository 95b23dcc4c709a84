namespace Pgrelay.Resp.Commands;

/// <summary>Properties the dispatcher acts on, named after Redis's command flags (COMMAND INFO shows them).</summary>
[Flags]
public enum CommandFlags
{
    None = 0,
    Write = 1 << 0,
    ReadOnly = 1 << 1,
    Admin = 1 << 2,
    PubSub = 1 << 3,
    NoScript = 1 << 4,
    Loading = 1 << 5,
    Stale = 1 << 6,
    Fast = 1 << 7,
    /// <summary>Runs before authentication (AUTH, HELLO, QUIT...).</summary>
    NoAuth = 1 << 8,
    /// <summary>Executes immediately inside MULTI instead of being queued (EXEC, DISCARD, MULTI, WATCH...).</summary>
    NoMulti = 1 << 9,
    /// <summary>Allowed while a RESP2 connection is in subscriber mode.</summary>
    SubscriberContext = 1 << 10,
    /// <summary>Refused on this server: it would change data PostgreSQL owns.</summary>
    DenyWrite = 1 << 11,
}
