using System.Net;
using System.Net.Sockets;
using Npgsql;
using Pgrelay.Replication.Local;
using Pgrelay.Testing;
using Xunit;

namespace Pgrelay.Replication.Tests;

/// <summary>
/// The test clusters' ports under a busy CI (dotnet test runs projects in parallel, each starting clusters and listeners):
/// a cluster's port is never one a bind to port 0 can hand out, two clusters never share one even while one is stopped,
/// and a port taken between the choice and the postmaster's bind moves the cluster instead of failing its test.
/// </summary>
public sealed class PrivateClusterPortTests
{
    private static async Task<PrivateClusterOptions> OptionsAsync(IEnumerable<int>? candidates = null) => new()
    {
        BinDirectory = await PostgresServers.BinDirectoryAsync(PostgresServers.Default),
        CandidatePorts = candidates,
    };

    private static async Task<int> AnswersAsync(PrivatePostgresCluster cluster)
    {
        await using var conn = new NpgsqlConnection(cluster.ConnectionString);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand("SHOW port", conn);
        return int.Parse((string)(await cmd.ExecuteScalarAsync())!);
    }

    [Fact]
    public async Task A_clusters_port_is_outside_the_ephemeral_range_that_port_0_binds_draw_from()
    {
        var range = File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range").Split((char[])['\t', ' ', '\n'], StringSplitOptions.RemoveEmptyEntries);
        int low = int.Parse(range[0]), high = int.Parse(range[1]);
        await using var cluster = await PrivatePostgresCluster.StartAsync(await OptionsAsync());
        Assert.True(cluster.Port < low || cluster.Port > high, $"port {cluster.Port} is in the ephemeral range {low}-{high}");
        Assert.Equal(cluster.Port, await AnswersAsync(cluster));
    }

    [Fact]
    public async Task A_port_taken_before_the_postmaster_binds_it_moves_the_cluster_to_the_next_candidate()
    {
        // Another process's listener on the first candidate, as a parallel test's bind to port 0 or a cluster of an older
        // harness would hold it.
        using var taken = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        taken.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        taken.Listen();
        int busy = ((IPEndPoint)taken.LocalEndPoint!).Port;
        await using var cluster = await PrivatePostgresCluster.StartAsync(await OptionsAsync(FreePortsAfter(busy)));
        Assert.NotEqual(busy, cluster.Port);
        Assert.Equal(cluster.Port, await AnswersAsync(cluster));
    }

    [Fact]
    public async Task A_stopped_clusters_port_is_not_given_to_another_cluster()
    {
        await using var first = await PrivatePostgresCluster.StartAsync(await OptionsAsync());
        await first.StopAsync();
        // The stopped cluster's port is free to bind, and the first candidate; the second cluster must pass it by.
        await using var second = await PrivatePostgresCluster.StartAsync(await OptionsAsync(FreePortsAfter(first.Port)));
        Assert.NotEqual(first.Port, second.Port);
        await first.StartStoppedAsync();
        Assert.Equal(first.Port, await AnswersAsync(first));
        Assert.Equal(second.Port, await AnswersAsync(second));
    }

    /// <summary><paramref name="first"/>, then the usual candidates.</summary>
    private static IEnumerable<int> FreePortsAfter(int first)
    {
        yield return first;
        foreach (int port in ReservedPort.Candidates()) yield return port;
    }
}
