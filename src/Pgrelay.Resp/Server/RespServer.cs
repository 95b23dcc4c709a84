using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Pgrelay.Core.Status;
using Pgrelay.Resp.Acl;
using Pgrelay.Resp.Commands;
using Pgrelay.Resp.Keyspace;
using Pgrelay.Resp.PubSub;
using Pgrelay.Resp.Tracking;
using Pgrelay.Store;

namespace Pgrelay.Resp.Server;

/// <summary>
/// State shared by every Redis connection: the store, users, clients, pub/sub and tracking. One per host;
/// it listens to the store's change feed from construction until disposal.
/// </summary>
public sealed class RespServer : IDisposable
{
    public RespServer(ReplicatedStore store, ReplicationStatus status, RespOptions options, ILogger<RespServer>? logger = null)
    {
        Store = store;
        Status = status;
        Options = options;
        Logger = (ILogger?)logger ?? NullLogger.Instance;
        Keyspace = new KeyspaceMap(store);
        Acl = AclStore.Create(options);
        Clients = new ClientRegistry();
        Quota = new Transport.ConnectionQuota(options.MaxClients);
        Sessions = new RespSessionFactory(this);
        Tracking = new TrackingTable(this);
        Hub = new NotificationHub(this);
    }

    public ReplicatedStore Store { get; }
    public ReplicationStatus Status { get; }
    public RespOptions Options { get; }
    public ILogger Logger { get; }
    public CommandTable Commands => CommandTable.Default;
    public KeyspaceMap Keyspace { get; }
    public AclStore Acl { get; }
    public ClientRegistry Clients { get; }

    /// <summary>maxclients, shared by the plain and TLS listeners.</summary>
    public Transport.ConnectionQuota Quota { get; }

    /// <summary>What the listeners build sessions with.</summary>
    public RespSessionFactory Sessions { get; }

    /// <summary>Redis connections open right now (INFO's connected_clients), for the dashboard and metrics.</summary>
    public int ConnectedClients => Clients.Count;
    public TrackingTable Tracking { get; }
    public NotificationHub Hub { get; }
    public ServerStats Stats { get; } = new();
    public DateTimeOffset StartedAt { get; } = DateTimeOffset.UtcNow;
    public string RunId { get; } = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(20));

    /// <summary>
    /// Bytes the request parsers have examined, all connections together, so tests can show parsing stays linear in
    /// the bytes received. Kept per connection and summed here, so the hot path touches no shared counter for it.
    /// </summary>
    public long ParsedBytes => Stats.ParsedBytesOfClosed + Clients.All.Sum(c => c.ParsedBytes);

    public void Dispose() => Hub.Dispose();
}
