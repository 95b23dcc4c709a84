using StackExchange.Redis;

namespace Pgrelay.Sinks.Targets;

/// <summary>Connections to a Redis a sink writes to: <c>host:port</c> or any StackExchange.Redis configuration string.</summary>
internal static class RedisConnections
{
    public static async Task<ConnectionMultiplexer> ConnectAsync(string address)
    {
        var options = ConfigurationOptions.Parse(address);
        // Failing fast lets the sink runner report the failure and back off, instead of a blocked first delivery.
        options.AbortOnConnectFail = true;
        options.ConnectTimeout = 5000;
        options.ClientName = "pgrelay-sink";
        return await ConnectionMultiplexer.ConnectAsync(options).ConfigureAwait(false);
    }
}
