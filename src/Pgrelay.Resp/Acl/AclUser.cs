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

    /// <summary>The user as ACL LIST and the ACL file write it.</summary>
    public string Describe()
    {
        var p = Permissions;
        var parts = new List<string> { "user", Name, p.Enabled ? "on" : "off" };
        if (p.NoPass) parts.Add("nopass");
        parts.AddRange(p.PasswordHashes.Select(h => "#" + h));
        if (p.KeysText.Length > 0) parts.Add(p.KeysText); else parts.Add("resetkeys");
        if (p.ChannelsText.Length > 0) parts.Add(p.ChannelsText); else parts.Add("resetchannels");
        parts.Add(p.CommandsText);
        return string.Join(' ', parts);
    }
}
