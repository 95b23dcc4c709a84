using Pgrelay.Resp.Commands;
using Pgrelay.Resp.Protocol;

namespace Pgrelay.Resp.Acl;

/// <summary>RESTORE payload checking, kept only so ACL LIST gives back what was set (RESTORE is refused here anyway).</summary>
public enum SanitizePayload { Default, Sanitize, Skip }

/// <summary>
/// What a user may do, as one immutable value: ACL SETUSER builds a new one and swaps it in, so a
/// connection checking a command never sees half of an update.
/// </summary>
public sealed record AclPermissions
{
    public bool Enabled { get; init; }
    public bool NoPass { get; init; }
    /// <summary>SHA-256 of each password, lowercase hex: the only form a password is kept in.</summary>
    public IReadOnlyList<string> PasswordHashes { get; init; } = [];
    public SanitizePayload SanitizePayload { get; init; }
    public required AclSelector Root { get; init; }
    /// <summary>Further selectors, each tried when the root refuses a command.</summary>
    public IReadOnlyList<AclSelector> Selectors { get; init; } = [];

    public bool AllChannels => Root.AllChannels;

    /// <summary>
    /// Whether the command may run with these arguments. When no selector allows it, the denial reported is
    /// the one Redis reports: the most specific kind (channel over key over command), then the latest argument.
    /// </summary>
    public AclDenial Check(CommandDefinition command, RespRequest request, out int argument)
    {
        var denial = Root.Check(command, request, out argument);
        if (denial == AclDenial.None || Selectors.Count == 0) return denial;
        foreach (var selector in Selectors)
        {
            var other = selector.Check(command, request, out int at);
            if (other == AclDenial.None) { argument = 0; return AclDenial.None; }
            if (other > denial || (other == denial && at > argument)) (denial, argument) = (other, at);
        }
        return denial;
    }

    /// <summary>True when any selector lets this user hear <paramref name="channel"/> (existing subscriptions after ACL SETUSER).</summary>
    public bool CanAccessChannel(ReadOnlySpan<byte> channel, bool isPattern)
    {
        if (Root.CanAccessChannel(channel, isPattern)) return true;
        foreach (var selector in Selectors)
            if (selector.CanAccessChannel(channel, isPattern)) return true;
        return false;
    }

    /// <summary>
    /// True when some selector lets this user read <paramref name="key"/>. Keys carry primary-key values, so a key's
    /// name is data: keyspace notifications and BCAST invalidations reach a connection only when this holds for its user.
    /// A user allowed every key (the default user) answers at the first check.
    /// </summary>
    public bool CanReadKey(ReadOnlySpan<byte> key)
    {
        if (Root.CanAccessKey(key, write: false)) return true;
        foreach (var selector in Selectors)
            if (selector.CanAccessKey(key, write: false)) return true;
        return false;
    }

    /// <summary>Flag names as ACL GETUSER lists them.</summary>
    public IEnumerable<string> Flags()
    {
        yield return Enabled ? "on" : "off";
        if (NoPass) yield return "nopass";
        if (SanitizePayload == SanitizePayload.Skip) yield return "skip-sanitize-payload";
        if (SanitizePayload == SanitizePayload.Sanitize) yield return "sanitize-payload";
    }
}
