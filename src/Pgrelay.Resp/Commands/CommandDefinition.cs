using Pgrelay.Resp.Protocol;
using Pgrelay.Resp.Server;

namespace Pgrelay.Resp.Commands;

/// <summary>Runs one command; the reply goes to <paramref name="writer"/>.</summary>
public delegate void CommandHandler(RespSession session, RespRequest request, RespWriter writer);

/// <summary>
/// A command as COMMAND INFO describes it. <see cref="Arity"/> follows Redis: positive is exact, negative
/// is a minimum, both counting the command name. Keys are arguments FirstKey..LastKey every Step
/// (LastKey -1 means the last argument), which is what ACL key patterns are checked against.
/// </summary>
public sealed class CommandDefinition
{
    public CommandDefinition(string name, int arity, CommandFlags flags, AclCategories categories,
        int firstKey, int lastKey, int step, string group, string summary, CommandHandler handler)
    {
        Name = name;
        Utf8Name = System.Text.Encoding.UTF8.GetBytes(name);
        Arity = arity;
        Flags = flags;
        Categories = categories;
        FirstKey = firstKey;
        LastKey = lastKey;
        Step = step;
        Group = group;
        Summary = summary;
        Handler = handler;
        FullName = name;
    }

    /// <summary>A subcommand (<c>client|kill</c>): ACL rules, ACL LOG and NOPERM errors name it by its full name.</summary>
    internal CommandDefinition(CommandDefinition parent, string name, int arity, CommandFlags flags, AclCategories categories,
        int firstKey, int lastKey, int step, string summary)
        : this(name, arity, flags, categories, firstKey, lastKey, step, parent.Group, summary, parent.Handler)
    {
        Parent = parent;
        FullName = parent.Name + "|" + name;
        ChannelArguments = parent.ChannelArguments;
    }

    public string Name { get; }
    public byte[] Utf8Name { get; }
    public int Arity { get; }
    public CommandFlags Flags { get; }
    public AclCategories Categories { get; }
    public int FirstKey { get; }
    public int LastKey { get; }
    public int Step { get; }
    public string Group { get; }
    public string Summary { get; }
    public CommandHandler Handler { get; }

    /// <summary>The name ACL rules and errors use: <c>get</c>, or <c>client|kill</c> for a subcommand.</summary>
    public string FullName { get; }

    /// <summary>The container command of a subcommand; null for a top-level command.</summary>
    public CommandDefinition? Parent { get; }

    /// <summary>The subcommands of a container command (CLIENT, ACL, CONFIG...); empty for the others.</summary>
    public IReadOnlyList<CommandDefinition> Subcommands => _subcommands;
    private readonly List<CommandDefinition> _subcommands = [];

    public bool HasSubcommands => _subcommands.Count > 0;

    /// <summary>Which arguments are pub/sub channels, checked against the user's channel patterns.</summary>
    public ChannelArguments ChannelArguments { get; init; }

    internal void AddSubcommand(CommandDefinition subcommand) => _subcommands.Add(subcommand);

    /// <summary>The subcommand named by <paramref name="name"/> (any case), or null.</summary>
    public CommandDefinition? FindSubcommand(ReadOnlySpan<byte> name)
    {
        foreach (var sub in _subcommands)
            if (Protocol.RespRequest.AsciiEquals(name, sub.Utf8Name)) return sub;
        return null;
    }

    /// <summary>Position in the command table: ACL users keep one allow bit per index.</summary>
    public int Index { get; internal set; }

    public bool Has(CommandFlags flag) => (Flags & flag) != 0;

    public bool ArityMatches(int count) => Arity >= 0 ? count == Arity : count >= -Arity;

    /// <summary>The argument positions holding keys in a request of <paramref name="count"/> arguments.</summary>
    public KeyRange Keys(int count)
    {
        if (FirstKey <= 0 || count <= FirstKey) return default;
        int last = LastKey >= 0 ? Math.Min(LastKey, count - 1) : count + LastKey;
        return new KeyRange(FirstKey, last, Math.Max(Step, 1));
    }

    /// <summary>Flag names for COMMAND INFO.</summary>
    public IEnumerable<string> FlagNames()
    {
        if (Has(CommandFlags.Write) || Has(CommandFlags.DenyWrite)) yield return "write";
        if (Has(CommandFlags.ReadOnly)) yield return "readonly";
        if (Has(CommandFlags.Admin)) yield return "admin";
        if (Has(CommandFlags.PubSub)) yield return "pubsub";
        if (Has(CommandFlags.NoScript)) yield return "noscript";
        if (Has(CommandFlags.Loading)) yield return "loading";
        if (Has(CommandFlags.Stale)) yield return "stale";
        if (Has(CommandFlags.Fast)) yield return "fast";
        if (Has(CommandFlags.NoAuth)) yield return "no_auth";
        if (Has(CommandFlags.NoMulti)) yield return "no_multi";
    }
}

public readonly record struct KeyRange(int First, int Last, int Step)
{
    public bool IsEmpty => First <= 0 || Last < First;
}
