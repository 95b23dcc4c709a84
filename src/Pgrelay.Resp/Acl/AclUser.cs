using System.Security.Cryptography;
using System.Text;

namespace Pgrelay.Resp.Acl;

/// <summary>A named user; its permissions are replaced as a whole when ACL SETUSER changes them.</summary>
public sealed class AclUser(string name, AclPermissions permissions)
{
    private AclPermissions _permissions = permissions;

    public string Name { get; } = name;

    public AclPermissions Permissions
    {
        get => Volatile.Read(ref _permissions);
        internal set => Volatile.Write(ref _permissions, value);
    }

    /// <summary>Set when the user is deleted, so connections authenticated as it can be told apart.</summary>
    public bool Deleted { get; internal set; }

    public bool CheckPassword(ReadOnlySpan<byte> password)
    {
        var p = Permissions;
        if (!p.Enabled) return false;
        if (p.NoPass) return true;
        var hash = HashPassword(password);
        foreach (var h in p.PasswordHashes)
            if (CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(h), Encoding.ASCII.GetBytes(hash))) return true;
        return false;
    }

    public static string HashPassword(ReadOnlySpan<byte> password) => Convert.ToHexStringLower(SHA256.HashData(password));

    /// <summary>The user as ACL LIST and the ACL file write it: flags, password hashes, the root selector, then other selectors.</summary>
    public string Describe()
    {
        var p = Permissions;
        var text = new StringBuilder("user ").Append(Name);
        foreach (var flag in p.Flags()) text.Append(' ').Append(flag);
        foreach (var hash in p.PasswordHashes) text.Append(" #").Append(hash);
        text.Append(' ').Append(p.Root.Describe());
        foreach (var selector in p.Selectors) text.Append(" (").Append(selector.Describe()).Append(')');
        return text.ToString();
    }
}
