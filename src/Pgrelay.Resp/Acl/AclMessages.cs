using Pgrelay.Resp.Commands;

namespace Pgrelay.Resp.Acl;

/// <summary>Redis 7.0's wording for refusals, shared by the dispatcher and ACL DRYRUN.</summary>
public static class AclMessages
{
    public static string NoPermission(AclDenial denial, CommandDefinition command) => denial switch
    {
        AclDenial.Key => "NOPERM this user has no permissions to access one of the keys used as arguments",
        AclDenial.Channel => "NOPERM this user has no permissions to access one of the channels used as arguments",
        _ => $"NOPERM this user has no permissions to run the '{command.FullName}' command",
    };

    /// <summary>ACL DRYRUN's answer, which names the refused key or channel.</summary>
    public static string DryRun(AclDenial denial, CommandDefinition command, string argument) => denial switch
    {
        AclDenial.Key => $"This user has no permissions to access the '{argument}' key",
        AclDenial.Channel => $"This user has no permissions to access the '{argument}' channel",
        _ => $"This user has no permissions to run the '{command.FullName}' command",
    };
}
