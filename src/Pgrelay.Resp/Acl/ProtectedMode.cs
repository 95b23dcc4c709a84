using System.Net;

namespace Pgrelay.Resp.Acl;

/// <summary>
/// Redis's protected mode, decided for each new connection rather than once at start-up: while the <c>default</c> user
/// needs no password, only loopback clients are served. An <c>ACL SETUSER default nopass</c> or an <c>ACL LOAD</c> of a
/// file without a <c>default</c> line therefore closes the server to the network at the next connection instead of
/// opening it. Connections already open stay, as in Redis (they were admitted under the rules of their time).
/// </summary>
public static class ProtectedMode
{
    /// <summary>True when a client from <paramref name="remote"/> must be refused with <see cref="DeniedReply"/> and closed.</summary>
    public static bool Refuses(RespOptions options, AclStore users, EndPoint? remote) =>
        options.ProtectedMode && OpensToEveryone(users) && !IsLoopbackClient(remote);

    /// <summary>
    /// Redis looks at the nopass flag alone (networking.c, clientAcceptHandler): a default user that is off but has
    /// nopass still counts as open, because turning it on again would need no password.
    /// </summary>
    public static bool OpensToEveryone(AclStore users) => users.Default.Permissions.NoPass;

    /// <summary>
    /// Redis's islocalClient: the peer is exactly 127.0.0.1 or ::1 (a Unix socket too, which we do not serve). A
    /// dual-stack socket shows IPv4 peers as ::ffff:a.b.c.d, so those are unmapped first.
    /// </summary>
    public static bool IsLoopbackClient(EndPoint? remote)
    {
        if (remote is not IPEndPoint { Address: var address }) return false;
        if (address.IsIPv4MappedToIPv6) address = address.MapToIPv4();
        return address.Equals(IPAddress.Loopback) || address.Equals(IPAddress.IPv6Loopback);
    }

    /// <summary>Redis 7.0's refusal, word for word (it names Redis's own remedies; ours are in docs/security.md).</summary>
    public static ReadOnlySpan<byte> DeniedReply =>
        "-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Setup a an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n"u8;
}
