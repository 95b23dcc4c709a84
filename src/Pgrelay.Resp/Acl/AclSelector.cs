using System.Text;
using Pgrelay.Resp.Commands;
using Pgrelay.Resp.Keyspace;
using Pgrelay.Resp.Protocol;

namespace Pgrelay.Resp.Acl;

/// <summary>
/// One set of command, key and channel permissions. A user has a root selector and may have more
/// (<c>(~other.* +get)</c>); a command runs when any one selector allows the command together with all its keys
/// and channels. Immutable: rule changes build a new one.
/// </summary>
public sealed class AclSelector
{
    internal AclSelector(bool allKeys, AclKeyPattern[] keys, bool allChannels, byte[][] channels, bool[] allowed,
        IReadOnlyDictionary<int, string[]> firstArgs, bool allCommandsBase, string[] commandRules)
    {
        AllKeys = allKeys;
        KeyPatterns = keys;
        AllChannels = allChannels;
        ChannelPatterns = channels;
        AllowedCommands = allowed;
        FirstArgs = firstArgs;
        AllCommandsBase = allCommandsBase;
        CommandRules = commandRules;
    }

    public bool AllKeys { get; }
    public IReadOnlyList<AclKeyPattern> KeyPatterns { get; }
    public bool AllChannels { get; }
    public IReadOnlyList<byte[]> ChannelPatterns { get; }
    /// <summary>One flag per command and subcommand index (<see cref="CommandTable.Every"/>).</summary>
    internal bool[] AllowedCommands { get; }
    /// <summary>First arguments allowed for an otherwise blocked command (<c>+select|0</c>), by command index.</summary>
    internal IReadOnlyDictionary<int, string[]> FirstArgs { get; }
    /// <summary>Started from +@all (so ACL LIST prints "+@all ..." and commands added later are allowed) rather than -@all.</summary>
    public bool AllCommandsBase { get; }
    /// <summary>Command rules after the base, in order, without rules later ones made redundant.</summary>
    public IReadOnlyList<string> CommandRules { get; }

    /// <summary>True when nothing needs checking beyond the command bit: the default user's fast path.</summary>
    internal bool AllowsEverything => AllKeys && AllChannels;

    public bool CanRun(CommandDefinition command, RespRequest request)
    {
        if (command.Index < AllowedCommands.Length && AllowedCommands[command.Index]) return true;
        if (command.Parent is null && request.Count > 1 && FirstArgs.TryGetValue(command.Index, out var args))
        {
            var first = request[1];
            foreach (var arg in args)
                if (Ascii.EqualsIgnoreCase(first, Encoding.UTF8.GetBytes(arg))) return true;
        }
        return false;
    }

    public bool CanAccessKey(ReadOnlySpan<byte> key, bool write)
    {
        if (AllKeys) return true;
        foreach (var pattern in KeyPatterns)
            if ((write ? pattern.Write : pattern.Read) && GlobPattern.IsMatch(pattern.Pattern, key)) return true;
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

    /// <summary>Checks the command, then its keys, then its channels; <paramref name="argument"/> is the refused one.</summary>
    public AclDenial Check(CommandDefinition command, RespRequest request, out int argument)
    {
        argument = 0;
        if (!command.Has(CommandFlags.NoAuth) && !CanRun(command, request)) return AclDenial.Command;
        if (!AllKeys)
        {
            var keys = command.Keys(request.Count);
            bool write = command.Has(CommandFlags.Write);
            if (!keys.IsEmpty)
                for (int i = keys.First; i <= keys.Last; i += keys.Step)
                    if (!CanAccessKey(request[i], write)) { argument = i; return AclDenial.Key; }
        }
        if (!AllChannels && command.ChannelArguments != ChannelArguments.None)
        {
            int last = command.ChannelArguments == ChannelArguments.First ? Math.Min(1, request.Count - 1) : request.Count - 1;
            bool pattern = command.ChannelArguments == ChannelArguments.AllPatterns;
            for (int i = 1; i <= last; i++)
                if (!CanAccessChannel(request[i], pattern)) { argument = i; return AclDenial.Channel; }
        }
        return AclDenial.None;
    }

    /// <summary>"~p1 %R~p2" or "~*"; empty when no key is allowed (ACL GETUSER's keys).</summary>
    public string KeysText => AllKeys ? "~*" : string.Join(' ', KeyPatterns.Select(p => p.Text));

    /// <summary>"&amp;c1 &amp;c2" or "&amp;*" (ACL GETUSER's channels).</summary>
    public string ChannelsText => AllChannels ? "&*" : string.Join(' ', ChannelPatterns.Select(p => "&" + Encoding.UTF8.GetString(p)));

    public string CommandsText
    {
        get
        {
            var text = new StringBuilder(AllCommandsBase ? "+@all" : "-@all");
            foreach (var rule in CommandRules) text.Append(' ').Append(rule);
            return text.ToString();
        }
    }

    /// <summary>The selector as ACL LIST writes it: keys, then channels (always starting from resetchannels), then commands.</summary>
    public string Describe()
    {
        var text = new StringBuilder();
        if (KeysText.Length > 0) text.Append(KeysText).Append(' ');
        if (AllChannels) text.Append("&* ");
        else
        {
            text.Append("resetchannels ");
            if (ChannelsText.Length > 0) text.Append(ChannelsText).Append(' ');
        }
        return text.Append(CommandsText).ToString();
    }
}
