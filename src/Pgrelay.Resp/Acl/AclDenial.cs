namespace Pgrelay.Resp.Acl;

/// <summary>Why ACL refused a command. The values order them the way Redis picks which denial to report
/// when no selector allows a command: the highest wins.</summary>
public enum AclDenial
{
    None = 0,
    Command = 1,
    Key = 2,
    Auth = 3,
    Channel = 4,
}
