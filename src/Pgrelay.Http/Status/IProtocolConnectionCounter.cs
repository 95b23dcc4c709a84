namespace Pgrelay.Http.Status;

/// <summary>
/// How many clients one protocol listener has connected now. The host registers one per listener
/// (<c>services.AddSingleton&lt;IProtocolConnectionCounter&gt;(...)</c> for Redis, memcached, ...); the status
/// document and the dashboard list every registered counter, and show none when nothing is registered.
/// </summary>
public interface IProtocolConnectionCounter
{
    /// <summary>Short protocol name as shown to users: "redis", "memcached", "http-sse".</summary>
    string Protocol { get; }

    /// <summary>Connections open right now.</summary>
    long OpenConnections { get; }
}
