using System.Text;
using Pgrelay.Resp.Commands;

namespace Pgrelay.Resp.Acl;

/// <summary>Applies Redis ACL rules (on, &gt;pass, ~pattern, +@read, -hget...) to a user's permissions.</summary>
public static class AclRuleParser
{
    /// <summary>Applies <paramref name="rules"/> in order; throws <see cref="AclRuleException"/> naming the first bad one.</summary>
    public static AclPermissions Apply(AclPermissions start, IEnumerable<string> rules, CommandTable commands)
    {
        var enabled = start.Enabled;
        var noPass = start.NoPass;
        var hashes = start.PasswordHashes.ToList();
        var allKeys = start.AllKeys;
        var keys = start.KeyPatterns.ToList();
        var allChannels = start.AllChannels;
        var channels = start.ChannelPatterns.ToList();
        var allowed = start.AllowedCommands.Length == commands.Count ? (bool[])start.AllowedCommands.Clone() : new bool[commands.Count];
        var commandRules = start.CommandRules.ToList();

        foreach (var rule in rules)
        {
            var lower = rule.ToLowerInvariant();
            switch (lower)
            {
                case "on": enabled = true; continue;
                case "off": enabled = false; continue;
                case "nopass": noPass = true; hashes.Clear(); continue;
                case "resetpass": noPass = false; hashes.Clear(); continue;
                case "allkeys": allKeys = true; keys.Clear(); continue;
                case "resetkeys": allKeys = false; keys.Clear(); continue;
                case "allchannels": allChannels = true; channels.Clear(); continue;
                case "resetchannels": allChannels = false; channels.Clear(); continue;
                case "allcommands": SetAll(allowed, commandRules, true); continue;
                case "nocommands": SetAll(allowed, commandRules, false); continue;
                case "reset":
                    enabled = false; noPass = false; hashes.Clear();
                    allKeys = false; keys.Clear(); allChannels = false; channels.Clear();
                    SetAll(allowed, commandRules, false);
                    continue;
                case "clearselectors": continue;   // selectors are not supported; nothing to clear
            }
            if (rule.Length == 0) throw new AclRuleException(rule, "Syntax error");
            switch (rule[0])
            {
                case '>':
                {
                    var hash = AclUser.HashPassword(Encoding.UTF8.GetBytes(rule[1..]));
                    if (!hashes.Contains(hash)) hashes.Add(hash);
                    noPass = false;
                    break;
                }
                case '<':
                    hashes.Remove(AclUser.HashPassword(Encoding.UTF8.GetBytes(rule[1..])));
                    break;
                case '#':
                {
                    var hash = rule[1..];
                    if (hash.Length != 64 || !hash.All(c => char.IsAsciiHexDigitLower(c) || char.IsAsciiDigit(c)))
                        throw new AclRuleException(rule, "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters");
                    if (!hashes.Contains(hash)) hashes.Add(hash);
                    noPass = false;
                    break;
                }
                case '!':
                    if (!hashes.Remove(rule[1..])) throw new AclRuleException(rule, "The password you are trying to remove from the user does not exist");
                    break;
                case '~':
                    AddPattern(rule[1..], ref allKeys, keys);
                    break;
                case '%':
                {
                    // %R~, %W~, %RW~: this server only reads, so the pattern grants what ~ grants.
                    int tilde = rule.IndexOf('~');
                    var flags = tilde > 1 ? rule[1..tilde].ToUpperInvariant() : "";
                    if (tilde < 0 || flags.Length == 0 || flags.Any(c => c is not ('R' or 'W'))) throw new AclRuleException(rule, "Syntax error");
                    if (flags.Contains('R')) AddPattern(rule[(tilde + 1)..], ref allKeys, keys);
                    break;
                }
                case '&':
                    AddPattern(rule[1..], ref allChannels, channels);
                    break;
                case '+':
                case '-':
                    ApplyCommandRule(rule, rule[0] == '+', allowed, commandRules, commands);
                    break;
                default:
                    throw new AclRuleException(rule, "Syntax error");
            }
        }

        return new AclPermissions
        {
            Enabled = enabled,
            NoPass = noPass,
            PasswordHashes = hashes,
            AllKeys = allKeys,
            KeyPatterns = keys,
            AllChannels = allChannels,
            ChannelPatterns = channels,
            AllowedCommands = allowed,
            CommandRules = commandRules,
        };
    }

    private static void AddPattern(string pattern, ref bool all, List<byte[]> patterns)
    {
        if (all) return;
        if (pattern == "*") { all = true; patterns.Clear(); return; }
        var bytes = Encoding.UTF8.GetBytes(pattern);
        if (!patterns.Any(p => p.AsSpan().SequenceEqual(bytes))) patterns.Add(bytes);
    }

    private static void SetAll(bool[] allowed, List<string> rules, bool value)
    {
        Array.Fill(allowed, value);
        rules.Clear();
        rules.Add(value ? "+@all" : "-@all");
    }

    private static void ApplyCommandRule(string rule, bool allow, bool[] allowed, List<string> rules, CommandTable commands)
    {
        var name = rule[1..];
        if (name.StartsWith('@'))
        {
            var category = name[1..];
            if (category.Equals("all", StringComparison.OrdinalIgnoreCase)) { SetAll(allowed, rules, allow); return; }
            if (!AclCategoryNames.TryParse(category, out var bits))
                throw new AclRuleException(rule, "Unknown command or category name in ACL");
            foreach (var command in commands.All)
                if ((command.Categories & bits) != 0) allowed[command.Index] = allow;
            rules.Add(rule.ToLowerInvariant());
            return;
        }
        if (name.Contains('|'))
            throw new AclRuleException(rule, "Allowing or blocking single subcommands is not supported by pgrelay; allow or block the whole command");
        var definition = commands.Find(name);
        if (definition is null) throw new AclRuleException(rule, "Unknown command or category name in ACL");
        allowed[definition.Index] = allow;
        rules.Add((allow ? "+" : "-") + definition.Name);
    }
}

/// <summary>A rule ACL SETUSER or the ACL file cannot apply; the message is Redis's.</summary>
public sealed class AclRuleException(string rule, string reason)
    : Exception($"Error in ACL SETUSER modifier '{rule}': {reason}")
{
    public string Rule { get; } = rule;
}
