using System.Text;
using Pgrelay.Resp.Commands;

namespace Pgrelay.Resp.Acl;

/// <summary>
/// The users of this server. Starts like Redis: a <c>default</c> user that may do everything without a
/// password, unless a password (requirepass) or an ACL file says otherwise.
/// </summary>
public sealed class AclStore
{
    private readonly object _gate = new();
    private readonly CommandTable _commands;
    private Dictionary<string, AclUser> _users = new(StringComparer.Ordinal);

    private AclStore(CommandTable commands) => _commands = commands;

    public const string DefaultUserName = "default";

    public static AclStore Create(RespOptions options)
    {
        var store = new AclStore(CommandTable.Default);
        store._users[DefaultUserName] = new AclUser(DefaultUserName, store.DefaultUserPermissions());
        if (options.AclFile is { } file)
        {
            // ACL LOAD answers with the file's own words; at start the setting is named too.
            try { store.LoadFile(file); }
            catch (InvalidOperationException e) { throw new InvalidOperationException("aclfile: " + e.Message, e); }
        }
        if (options.Password is { } password) store.SetUser(DefaultUserName, ["resetpass", ">" + password]);
        return store;
    }

    /// <summary>Clients must AUTH before running anything: the default user has a password or is off.</summary>
    public bool RequiresAuthentication
    {
        get
        {
            var p = Default.Permissions;
            return !p.Enabled || !p.NoPass;
        }
    }

    public AclUser Default { get { lock (_gate) return _users[DefaultUserName]; } }

    public AclUser? Find(string name)
    {
        lock (_gate) return _users.GetValueOrDefault(name);
    }

    public IReadOnlyList<AclUser> Users
    {
        get { lock (_gate) return _users.Values.OrderBy(u => u.Name, StringComparer.Ordinal).ToArray(); }
    }

    /// <summary>Denied commands and failed logins, for ACL LOG.</summary>
    public AclLog Log { get; } = new();

    /// <summary>Redis's rule for user names: no spaces, no NUL.</summary>
    public static bool IsValidUserName(string name) => !name.Contains(' ') && !name.Contains('\0');

    /// <summary>Creates or changes a user; all rules apply or none (throws <see cref="AclRuleException"/>).</summary>
    public AclUser SetUser(string name, IEnumerable<string> rules)
    {
        if (!IsValidUserName(name)) throw new AclRuleException("Usernames can't contain spaces or null characters");
        lock (_gate)
        {
            var existing = _users.GetValueOrDefault(name);
            var permissions = AclRuleParser.Apply(existing?.Permissions ?? NewUserPermissions(), rules, _commands);
            if (existing is not null)
            {
                existing.Permissions = permissions;
                return existing;
            }
            var user = new AclUser(name, permissions);
            _users[name] = user;
            return user;
        }
    }

    public bool Delete(string name)
    {
        if (name == DefaultUserName) throw new InvalidOperationException("The 'default' user cannot be removed");
        lock (_gate)
        {
            if (!_users.Remove(name, out var user)) return false;
            user.Deleted = true;
            return true;
        }
    }

    /// <summary>Replaces every user with the file's (Redis's aclfile format: one <c>user name rules...</c> per line).</summary>
    public void LoadFile(string path)
    {
        if (!File.Exists(path)) throw new InvalidOperationException($"Error loading ACLs, opening file '{path}': No such file or directory");
        var users = new Dictionary<string, AclUser>(StringComparer.Ordinal);
        int lineNumber = 0;
        foreach (var raw in File.ReadLines(path))
        {
            lineNumber++;
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#')) continue;
            var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length < 2 || parts[0] != "user")
                throw new InvalidOperationException($"{path}:{lineNumber}: line should start with user keyword");
            if (!IsValidUserName(parts[1]) || parts[1].Contains('('))
                throw new InvalidOperationException($"{path}:{lineNumber}: Usernames can't contain spaces or null characters");
            if (users.ContainsKey(parts[1]))
                throw new InvalidOperationException($"{path}:{lineNumber}: Duplicate user '{parts[1]}' found");
            try
            {
                users[parts[1]] = new AclUser(parts[1], AclRuleParser.Apply(NewUserPermissions(), parts[2..], _commands));
            }
            catch (AclRuleException e)
            {
                throw new InvalidOperationException($"{path}:{lineNumber}: {e.Message}");
            }
        }
        users.TryAdd(DefaultUserName, new AclUser(DefaultUserName, DefaultUserPermissions()));
        lock (_gate)
        {
            foreach (var old in _users.Values) old.Deleted = !users.ContainsKey(old.Name);
            // Connections hold user objects: keep the same object for users that survive the reload.
            foreach (var (name, loaded) in users)
            {
                if (_users.TryGetValue(name, out var current) && !current.Deleted) { current.Permissions = loaded.Permissions; users[name] = current; }
            }
            _users = users;
        }
    }

    public void SaveFile(string path)
    {
        var text = new StringBuilder();
        foreach (var user in Users) text.Append(user.Describe()).Append('\n');
        // A name no other save can be using at the same time, as Redis's <file>.tmp-<pid>-<ms>; removed again when the
        // rename fails, so a failed save leaves the old file untouched and no debris beside it.
        var temporary = $"{path}.tmp-{Environment.ProcessId}-{Environment.TickCount64}";
        try
        {
            File.WriteAllText(temporary, text.ToString());
            File.Move(temporary, path, overwrite: true);
        }
        catch
        {
            try { File.Delete(temporary); } catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
            throw;
        }
    }

    private AclPermissions DefaultUserPermissions() =>
        AclRuleParser.Apply(NewUserPermissions(), ["on", "nopass", "~*", "&*", "+@all"], _commands);

    /// <summary>A user ACL SETUSER has just created: off, no password, no keys, no channels, no commands.</summary>
    private AclPermissions NewUserPermissions() => AclRuleParser.NewUser(_commands);
}
