using System.Diagnostics;

namespace Pgrelay.Testing;

/// <summary>
/// A throwaway Redis Cluster: redis-server masters (<c>--cluster-enabled yes</c>, no replicas) on free loopback ports,
/// their node files and append-only files in a temporary directory, joined with <c>redis-cli --cluster create</c>.
/// Every write is on disk before it is acknowledged, so a node can be killed and started again with its keys.
/// </summary>
public sealed class RedisClusterProcess : IAsyncDisposable
{
    private readonly RedisServerProcess?[] _nodes;
    private readonly string[][] _arguments;
    private readonly int[] _ports;
    private readonly string _directory;

    private RedisClusterProcess(int masters, string directory)
    {
        _nodes = new RedisServerProcess?[masters];
        _arguments = new string[masters][];
        _ports = new int[masters];
        _directory = directory;
    }

    public IReadOnlyList<int> Ports => _ports;
    /// <summary>One node: cluster clients discover the others from it.</summary>
    public string Address => $"127.0.0.1:{_ports[0]}";

    public static async Task<RedisClusterProcess> StartAsync(int masters = 3)
    {
        var cluster = new RedisClusterProcess(masters, Directory.CreateTempSubdirectory("pgrelay-redis-cluster").FullName);
        try
        {
            var taken = new HashSet<int>();
            int Port()
            {
                for (int attempt = 0; ; attempt++)
                {
                    int port = FreeTcpPort.Next();
                    if (taken.Add(port)) return port;
                    if (attempt == 100) throw new InvalidOperationException("no distinct free ports");
                }
            }
            for (int i = 0; i < masters; i++)
            {
                int port = cluster._ports[i] = Port();
                // The bus port is named: the default (port + 10000) may be taken or beyond 65535 for an ephemeral port.
                cluster._arguments[i] =
                [
                    "--cluster-enabled", "yes", "--cluster-port", Port().ToString(), "--cluster-config-file", $"nodes-{port}.conf",
                    "--cluster-node-timeout", "5000", "--dir", cluster._directory,
                    "--appendonly", "yes", "--appendfsync", "always", "--appenddirname", $"aof-{port}",
                ];
                await cluster.StartNodeAsync(i);
            }
            var create = await RedisCliAsync(["--cluster", "create", .. cluster._ports.Select(p => $"127.0.0.1:{p}"), "--cluster-replicas", "0", "--cluster-yes"]);
            if (create.ExitCode != 0) throw new InvalidOperationException($"redis-cli --cluster create failed: {create.Output}");
            await cluster.WaitUntilOkAsync();
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    private async Task StartNodeAsync(int node) => _nodes[node] = await RedisServerProcess.StartAsync(_ports[node], _arguments[node]);

    /// <summary>SIGKILL of one master: its slots are unserved (and the cluster fails) until <see cref="RestartNodeAsync"/>.</summary>
    public async Task KillNodeAsync(int node)
    {
        if (_nodes[node] is { } process) await process.DisposeAsync();
        _nodes[node] = null;
    }

    /// <summary>Starts a killed master again on its port with its node file and keys, and waits for the cluster to be whole.</summary>
    public async Task RestartNodeAsync(int node)
    {
        await StartNodeAsync(node);
        await WaitUntilOkAsync();
    }

    /// <summary>Bounded: every node must see all slots served (cluster_state:ok) and every other node.</summary>
    private async Task WaitUntilOkAsync()
    {
        for (int attempt = 0; ; attempt++)
        {
            bool ok = true;
            foreach (var port in _ports)
            {
                var info = await RedisCliAsync(["-p", port.ToString(), "cluster", "info"]);
                ok &= info.Output.Contains("cluster_state:ok") && info.Output.Contains($"cluster_known_nodes:{_ports.Length}");
            }
            if (ok) return;
            if (attempt == 600) throw new InvalidOperationException("the Redis Cluster did not reach cluster_state:ok");
            await Task.Delay(100);
        }
    }

    private static async Task<(int ExitCode, string Output)> RedisCliAsync(IEnumerable<string> arguments)
    {
        var start = new ProcessStartInfo("redis-cli") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add("-h");
        start.ArgumentList.Add("127.0.0.1");
        foreach (var a in arguments) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try { await process.WaitForExitAsync(timeout.Token); }
        catch (OperationCanceledException)
        {
            process.Kill();
            throw new TimeoutException($"redis-cli {string.Join(' ', start.ArgumentList)} did not finish");
        }
        return (process.ExitCode, await output + await error);
    }

    public async ValueTask DisposeAsync()
    {
        for (int i = 0; i < _nodes.Length; i++) await KillNodeAsync(i);
        try { Directory.Delete(_directory, recursive: true); }
        catch (IOException) { }
    }
}
