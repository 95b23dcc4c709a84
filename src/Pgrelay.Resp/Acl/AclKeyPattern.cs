namespace Pgrelay.Resp.Acl;

/// <summary>
/// A key pattern and what it grants: <c>~p</c> read and write, <c>%R~p</c> read only, <c>%W~p</c> write only.
/// This server only reads, so a write-only pattern grants nothing but is kept so ACL LIST and SAVE give it back.
/// </summary>
public sealed record AclKeyPattern(byte[] Pattern, bool Read, bool Write)
{
    public string Text
    {
        get
        {
            var pattern = System.Text.Encoding.UTF8.GetString(Pattern);
            return (Read, Write) switch
            {
                (true, true) => "~" + pattern,
                (true, false) => "%R~" + pattern,
                _ => "%W~" + pattern,
            };
        }
    }
}
