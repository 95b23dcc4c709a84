using System.Text;
using Pgrelay.Resp.Commands;

namespace Pgrelay.Resp.Acl;

/// <summary>Applies Redis ACL rules (on, &gt;pass, ~pattern, +@read, -hget, (selector)...) to a user's permissions.</summary>
public static class AclRuleParser
{
    /// <summary>A user ACL SETUSER has just created: off, no password, no keys, no channels, no commands.</summary>
    public static AclPermissions NewUser(CommandTable commands) => new() { Root = new AclSelectorBuilder(commands).Build() };

    /// <summary>Applies <paramref name="rules"/> in order; throws <see cref="AclRuleException"/> naming the first bad one.</summary>
    public static AclPermissions Apply(AclPermissions start, IEnumerable<string> rules, CommandTable commands)
    {
        var enabled = start.Enabled;
        var noPass = start.NoPass;
        var hashes = start.PasswordHashes.ToList();
        var sanitize = start.SanitizePayload;
        var root = new AclSelectorBuilder(commands, start.Root);
        var selectors = start.Selectors.ToList();

        foreach (var rule in MergeSelectors(rules.ToList()))
        {
            switch (rule.ToLowerInvariant())
            {
                case "on": enabled = true; continue;
                case "off": enabled = false; continue;
                case "nopass": noPass = true; hashes.Clear(); continue;
                case "resetpass": noPass = false; hashes.Clear(); continue;
                case "skip-sanitize-payload": sanitize = SanitizePayload.Skip; continue;
                case "sanitize-payload": sanitize = SanitizePayload.Sanitize; continue;
                case "clearselectors": selectors.Clear(); continue;
                case "reset":
                    enabled = false; noPass = false; hashes.Clear(); selectors.Clear();
                    sanitize = SanitizePayload.Sanitize;
                    root = new AclSelectorBuilder(commands);
                    continue;
            }
            if (rule.Length == 0) throw AclRuleException.Modifier(rule, "Syntax error");
            switch (rule[0])
            {
                case '>':
                {
                    var hash = AclUser.HashPassword(Encoding.UTF8.GetBytes(rule[1..]));
                    if (!hashes.Contains(hash)) hashes.Add(hash);
                    noPass = false;
                    continue;
                }
                case '<':
                    if (!hashes.Remove(AclUser.HashPassword(Encoding.UTF8.GetBytes(rule[1..]))))
                        throw AclRuleException.Modifier(rule, "The password you are trying to remove from the user does not exist");
                    continue;
                case '#':
                case '!':
                {
                    var hash = rule[1..];
                    if (hash.Length != 64 || !hash.All(c => char.IsAsciiHexDigitLower(c) || char.IsAsciiDigit(c)))
                        throw AclRuleException.Modifier(rule, "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters");
                    if (rule[0] == '#')
                    {
                        if (!hashes.Contains(hash)) hashes.Add(hash);
                        noPass = false;
                    }
                    else if (!hashes.Remove(hash))
                    {
                        throw AclRuleException.Modifier(rule, "The password you are trying to remove from the user does not exist");
                    }
                    continue;
                }
                case '(' when rule[^1] == ')':
                    selectors.Add(ParseSelector(rule, commands));
                    continue;
            }
            if (!root.TryApply(rule)) throw AclRuleException.Modifier(rule, "Syntax error");
        }

        return new AclPermissions
        {
            Enabled = enabled,
            NoPass = noPass,
            PasswordHashes = hashes,
            SanitizePayload = sanitize,
            Root = root.Build(),
            Selectors = selectors,
        };
    }

    /// <summary>"(~k* +get)": a new selector from the rules between the parentheses.</summary>
    private static AclSelector ParseSelector(string rule, CommandTable commands)
    {
        var builder = new AclSelectorBuilder(commands);
        foreach (var part in rule[1..^1].Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            // Redis names the whole selector in the error, with the reason the rule inside it failed.
            try
            {
                if (!builder.TryApply(part)) throw AclRuleException.Modifier(rule, "Syntax error");
            }
            catch (AclRuleException e) when (e.Reason is { } reason)
            {
                throw AclRuleException.Modifier(rule, reason);
            }
        }
        return builder.Build();
    }

    /// <summary>
    /// Joins a selector split over several arguments ("(~k*" "+get)") back into one, as Redis does for ACL SETUSER
    /// arguments and ACL file words.
    /// </summary>
    public static List<string> MergeSelectors(IReadOnlyList<string> rules)
    {
        var merged = new List<string>(rules.Count);
        for (int i = 0; i < rules.Count; i++)
        {
            var rule = rules[i];
            if (!rule.StartsWith('(') || rule.EndsWith(')'))
            {
                merged.Add(rule);
                continue;
            }
            var selector = new StringBuilder(rule);
            int start = i;
            bool closed = false;
            while (++i < rules.Count)
            {
                selector.Append(' ').Append(rules[i]);
                if (rules[i].EndsWith(')')) { closed = true; break; }
            }
            if (!closed) throw new AclRuleException($"Unmatched parenthesis in acl selector starting at '{rules[start]}'.");
            merged.Add(selector.ToString());
        }
        return merged;
    }
}

/// <summary>A rule ACL SETUSER or the ACL file cannot apply; the message is Redis's.</summary>
public sealed class AclRuleException(string message, string? reason = null) : Exception(message)
{
    /// <summary>Why a single rule failed ("Syntax error"), without the rule.</summary>
    public string? Reason { get; } = reason;

    public static AclRuleException Modifier(string rule, string reason) => new($"Error in ACL SETUSER modifier '{rule}': {reason}", reason);
}
