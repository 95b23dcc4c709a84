using System.Text;
using Pgrelay.Resp.Commands;

namespace Pgrelay.Resp.Acl;

/// <summary>Applies selector rules (keys, channels, commands) one at a time, in Redis's semantics, then builds an <see cref="AclSelector"/>.</summary>
internal sealed class AclSelectorBuilder
{
    private readonly CommandTable _commands;
    private bool _allKeys;
    private readonly List<AclKeyPattern> _keys = [];
    private bool _allChannels;
    private readonly List<byte[]> _channels = [];
    private readonly bool[] _allowed;
    private readonly Dictionary<int, string[]> _firstArgs = [];
    private bool _allCommandsBase;
    private readonly List<string> _rules = [];

    /// <summary>A new selector: no keys, no channels, no commands.</summary>
    public AclSelectorBuilder(CommandTable commands)
    {
        _commands = commands;
        _allowed = new bool[commands.BitCount];
    }

    public AclSelectorBuilder(CommandTable commands, AclSelector from) : this(commands)
    {
        _allKeys = from.AllKeys;
        _keys.AddRange(from.KeyPatterns);
        _allChannels = from.AllChannels;
        _channels.AddRange(from.ChannelPatterns);
        if (from.AllowedCommands.Length == _allowed.Length) from.AllowedCommands.CopyTo(_allowed, 0);
        foreach (var (index, args) in from.FirstArgs) _firstArgs[index] = args;
        _allCommandsBase = from.AllCommandsBase;
        _rules.AddRange(from.CommandRules);
    }

    public AclSelector Build() =>
        new(_allKeys, [.. _keys], _allChannels, [.. _channels], (bool[])_allowed.Clone(), new Dictionary<int, string[]>(_firstArgs), _allCommandsBase, [.. _rules]);

    /// <summary>Applies one rule; false when it is not a selector rule at all. Throws <see cref="AclRuleException"/> for a bad one.</summary>
    public bool TryApply(string rule)
    {
        switch (rule.ToLowerInvariant())
        {
            case "allkeys": _allKeys = true; _keys.Clear(); return true;
            case "resetkeys": _allKeys = false; _keys.Clear(); return true;
            case "allchannels": _allChannels = true; _channels.Clear(); return true;
            case "resetchannels": _allChannels = false; _channels.Clear(); return true;
            case "allcommands": case "+@all": SetAllCommands(true); return true;
            case "nocommands": case "-@all": SetAllCommands(false); return true;
        }
        if (rule.Length == 0) return false;
        switch (rule[0])
        {
            case '~':
            case '%':
                AddKeyPattern(rule);
                return true;
            case '&':
                if (_allChannels)
                    throw AclRuleException.Modifier(rule, "Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not have any effect. Try 'resetchannels' to start with an empty list of channels");
                if (rule == "&*") { _allChannels = true; _channels.Clear(); return true; }
                var channel = Encoding.UTF8.GetBytes(rule[1..]);
                if (!_channels.Any(c => c.AsSpan().SequenceEqual(channel))) _channels.Add(channel);
                return true;
            case '+':
            case '-':
                if (rule.Length < 2) return false;
                if (rule[1] == '@') ApplyCategory(rule);
                else ApplyCommand(rule);
                return true;
        }
        return false;
    }

    private void AddKeyPattern(string rule)
    {
        if (_allKeys)
            throw AclRuleException.Modifier(rule, "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start with an empty list of patterns");
        bool read = true, write = true;
        int offset = 1;
        if (rule[0] == '%')
        {
            read = write = false;
            bool closed = false;
            for (; offset < rule.Length; offset++)
            {
                char c = char.ToUpperInvariant(rule[offset]);
                if (c == 'R' && !read) read = true;
                else if (c == 'W' && !write) write = true;
                else if (c == '~') { offset++; closed = true; break; }
                else throw AclRuleException.Modifier(rule, "Syntax error");
            }
            if (!closed || !(read || write)) throw AclRuleException.Modifier(rule, "Syntax error");
        }
        var pattern = rule[offset..];
        if (pattern == "*" && read && write)
        {
            _allKeys = true;
            _keys.Clear();
            return;
        }
        var bytes = Encoding.UTF8.GetBytes(pattern);
        int existing = _keys.FindIndex(k => k.Pattern.AsSpan().SequenceEqual(bytes));
        // The same pattern twice widens the first one's access rather than listing it again.
        if (existing >= 0) _keys[existing] = _keys[existing] with { Read = _keys[existing].Read || read, Write = _keys[existing].Write || write };
        else _keys.Add(new AclKeyPattern(bytes, read, write));
    }

    private void SetAllCommands(bool allow)
    {
        Array.Fill(_allowed, allow);
        _allCommandsBase = allow;
        _rules.Clear();
        _firstArgs.Clear();
    }

    private void ApplyCategory(string rule)
    {
        bool allow = rule[0] == '+';
        if (!AclCategoryNames.TryParse(rule[2..], out var category))
            throw AclRuleException.Modifier(rule, "Unknown command or category name in ACL");
        foreach (var command in _commands.Every)
            if ((command.Categories & category) != 0) SetCommand(command, allow, withSubcommands: false);
        UpdateRules(allow, rule[1..]);
    }

    private void ApplyCommand(string rule)
    {
        bool allow = rule[0] == '+';
        var name = rule[1..];
        int bar = name.LastIndexOf('|');
        if (bar < 0)
        {
            var command = _commands.Find(name) ?? throw AclRuleException.Modifier(rule, "Unknown command or category name in ACL");
            SetCommand(command, allow, withSubcommands: true);
            UpdateRules(allow, command.FullName);
            return;
        }
        if (!allow)
        {
            var sub = _commands.FindFull(name) ?? throw AclRuleException.Modifier(rule, "Unknown command or category name in ACL");
            SetCommand(sub, allow: false, withSubcommands: false);
            UpdateRules(allow, sub.FullName);
            return;
        }
        var parent = _commands.FindFull(name[..bar]) ?? throw AclRuleException.Modifier(rule, "Unknown command or category name in ACL");
        if (parent.Parent is not null) throw AclRuleException.Modifier(rule, "Allowing first-arg of a subcommand is not supported");
        var argument = name[(bar + 1)..];
        if (argument.Length == 0) throw AclRuleException.Modifier(rule, "Syntax error");
        if (parent.HasSubcommands)
        {
            var sub = parent.FindSubcommand(Encoding.UTF8.GetBytes(argument.ToLowerInvariant()))
                      ?? throw AclRuleException.Modifier(rule, "Unknown command or category name in ACL");
            SetCommand(sub, allow: true, withSubcommands: false);
        }
        else
        {
            // Redis's deprecated first-argument rule (+select|0): lets one form of an otherwise blocked command through.
            var args = _firstArgs.GetValueOrDefault(parent.Index) ?? [];
            if (!args.Contains(argument, StringComparer.OrdinalIgnoreCase)) _firstArgs[parent.Index] = [.. args, argument];
        }
        UpdateRules(allow, name.ToLowerInvariant());
    }

    private void SetCommand(CommandDefinition command, bool allow, bool withSubcommands)
    {
        _allowed[command.Index] = allow;
        _firstArgs.Remove(command.Index);
        if (!withSubcommands) return;
        foreach (var sub in command.Subcommands) _allowed[sub.Index] = allow;
    }

    /// <summary>Drops earlier rules about the same command (and its subcommands) and appends this one, so the
    /// rules ACL LIST prints stay short and still rebuild exactly these permissions when read back.</summary>
    private void UpdateRules(bool allow, string name)
    {
        name = name.ToLowerInvariant();
        _rules.RemoveAll(r => r.AsSpan(1).SequenceEqual(name) || (r.Length > name.Length + 1 && r.AsSpan(1).StartsWith(name) && r[name.Length + 1] == '|'));
        _rules.Add((allow ? "+" : "-") + name);
    }
}
