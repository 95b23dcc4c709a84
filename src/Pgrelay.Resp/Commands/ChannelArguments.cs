namespace Pgrelay.Resp.Commands;

/// <summary>Where a pub/sub command names channels, so ACL channel rules (<c>&amp;pattern</c>) can be checked before it runs.</summary>
public enum ChannelArguments
{
    None,
    /// <summary>PUBLISH, SPUBLISH: the first argument.</summary>
    First,
    /// <summary>SUBSCRIBE, SSUBSCRIBE: every argument.</summary>
    All,
    /// <summary>PSUBSCRIBE: every argument is a pattern, compared literally with the user's patterns.</summary>
    AllPatterns,
}
