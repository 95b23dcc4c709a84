using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Text.Json;
using Pgrelay.Core.Changes;

namespace Pgrelay.Resp.Tests;

/// <summary>
/// node-redis v5 (npm package <c>redis</c>) with RESP3 and its client-side cache: a committed transaction must
/// reach the client as invalidations, so its next reads go to the server and see the new values.
/// </summary>
public sealed class NodeClientTests
{
    private static readonly string NodeFolder = Path.Combine(SourceFolder(), "node");

    [Fact]
    public async Task Node_redis_client_side_cache_is_invalidated_by_a_committed_transaction()
    {
        await EnsurePackagesAsync();
        await using var server = await TestServer.StartAsync();
        var start = new ProcessStartInfo("node", ["script.mjs", server.Port.ToString()])
        {
            WorkingDirectory = NodeFolder,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var node = Process.Start(start)!;
        var errors = node.StandardError.ReadToEndAsync();
        try
        {
            using var cached = await ReadStepAsync(node, errors);
            Assert.Equal("cached", cached.RootElement.GetProperty("step").GetString());
            Assert.Equal("Grace", cached.RootElement.GetProperty("first").GetProperty("name").GetString());
            Assert.Equal("grace@example.com", cached.RootElement.GetProperty("again").GetProperty("email").GetString());
            Assert.Equal("413066", cached.RootElement.GetProperty("city").GetString());
            Assert.True(cached.RootElement.GetProperty("hits").GetInt32() >= 1, "the second HGETALL should come from the client's cache");

            // One transaction changes both cached rows; NULL email drops out of the hash.
            server.Apply(new RowChange(ChangeKind.Update, TestServer.Users, TestServer.Row("2", "Grace Hopper", null)),
                new RowChange(ChangeKind.Update, TestServer.Cities, TestServer.Row("Tulsa", "OK", "413067", "Tulsa, a great place")));
            await node.StandardInput.WriteLineAsync("changed");
            await node.StandardInput.FlushAsync();

            using var after = await ReadStepAsync(node, errors);
            var root = after.RootElement;
            Assert.Equal("invalidated", root.GetProperty("step").GetString());
            Assert.Equal("Grace Hopper", root.GetProperty("value").GetProperty("name").GetString());
            Assert.False(root.GetProperty("value").TryGetProperty("email", out _));
            Assert.Equal("413067", root.GetProperty("population").GetString());
            Assert.True(root.GetProperty("misses").GetInt32() > cached.RootElement.GetProperty("misses").GetInt32());
        }
        finally
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(15));
            try { await node.WaitForExitAsync(cts.Token); }
            catch (OperationCanceledException) { node.Kill(entireProcessTree: true); }
        }
    }

    private static async Task<JsonDocument> ReadStepAsync(Process node, Task<string> errors)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var line = await node.StandardOutput.ReadLineAsync(cts.Token);
        if (line is null) Assert.Fail("node exited early: " + await errors);
        return JsonDocument.Parse(line);
    }

    /// <summary>A clean clone has no node_modules: install exactly what package-lock.json pins.</summary>
    private static async Task EnsurePackagesAsync()
    {
        if (Directory.Exists(Path.Combine(NodeFolder, "node_modules", "redis"))) return;
        var start = new ProcessStartInfo("npm", ["ci", "--no-audit", "--no-fund"])
        {
            WorkingDirectory = NodeFolder,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var npm = Process.Start(start)!;
        var output = npm.StandardOutput.ReadToEndAsync();
        var error = npm.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        await npm.WaitForExitAsync(cts.Token);
        Assert.True(npm.ExitCode == 0, $"npm ci failed in {NodeFolder}:\n{await output}\n{await error}");
    }

    private static string SourceFolder([CallerFilePath] string path = "") => Path.GetDirectoryName(path)!;
}
