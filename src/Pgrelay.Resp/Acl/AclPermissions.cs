using Pgrelay.Resp.Commands;
using Pgrelay.Resp.Keyspace;

namespace Pgrelay.Resp.Acl;

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
    public bool AllKeys { get; init; }
    public IReadOnlyList<byte[]> KeyPatterns { get; init; } = [];
    public bool AllChannels { get; init; }
    public IReadOnlyList<byte[]> ChannelPatterns { get; init; } = [];
    /// <summary>One bit per command table index.</summary>
    public bool[] AllowedCommands { get; init; } = [];
    /// <summary>The command rules in order, compacted the way ACL LIST prints them ("-@all +@read +hget").</summary>
    public IReadOnlyList<string> CommandRules { get; init; } = ["-@all"];

    public bool CanRun(CommandDefinition command) =>
        command.Index < AllowedCommands.Length && AllowedCommands[command.Index];

    public bool CanAccessKey(ReadOnlySpan<byte> key)
    {
        if (AllKeys) return true;
        foreach (var pattern in KeyPatterns)
            if (GlobPattern.IsMatch(pattern, key)) return true;
        return false;
    }

    /// <summary>PSUBSCRIBE patterns are compared literally, as Redis does, so a pattern cannot widen access.</summary>
    public bool CanAccessChannel(ReadOnlySpan<byte> channel, bool isPattern)
    {
        if (AllChannels) return true;
        foreach (var pattern in ChannelPatterns)
            if (isPattern ? pattern.AsSpan().SequenceEqual(channel) : GlobPattern.IsMatch(pattern, channel)) return true;
        return false;
    }

    public string KeysText => AllKeys ? "~*" : string.Join(' ', KeyPatterns.Select(p => "~" + System.Text.Encoding.UTF8.GetString(p)));
    public string ChannelsText => AllChannels ? "&*" : string.Join(' ', ChannelPatterns.Select(p => "&" + System.Text.Encoding.UTF8.GetString(p)));
    public string CommandsText => string.Join(' ', CommandRules);
}
