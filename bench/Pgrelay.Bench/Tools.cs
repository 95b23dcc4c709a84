using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Npgsql;

namespace Pgrelay.Bench;

internal static class Tools
{
    public const string PgBin = "/usr/lib/postgresql/15/bin";

    public static async Task Sql(string connectionString, string sql)
    {
        await using var c = new NpgsqlConnection(connectionString);
        await c.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, c) { CommandTimeout = 0 };
        await cmd.ExecuteNonQueryAsync();
    }

    public static async Task<T> Scalar<T>(string connectionString, string sql)
    {
        await using var c = new NpgsqlConnection(connectionString);
        await c.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, c) { CommandTimeout = 0 };
        return (T)(await cmd.ExecuteScalarAsync())!;
    }

    /// <summary>Runs a process to completion; returns wall time. Output goes to /dev/null unless captured.</summary>
    public static async Task<(TimeSpan Elapsed, string Stdout)> Run(string file, IEnumerable<string> args, string? stdin = null, bool capture = false)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = stdin is not null, UseShellExecute = false };
        foreach (var a in args) info.ArgumentList.Add(a);
        var sw = Stopwatch.StartNew();
        using var p = Process.Start(info)!;
        var stderr = p.StandardError.ReadToEndAsync();
        Task<string> stdout;
        if (capture) stdout = p.StandardOutput.ReadToEndAsync();
        else
        {
            stdout = Task.Run(async () =>
            {
                var buffer = new char[1 << 16];
                while (await p.StandardOutput.ReadAsync(buffer) > 0) { }
                return "";
            });
        }
        if (stdin is not null)
        {
            await p.StandardInput.WriteAsync(stdin);
            p.StandardInput.Close();
        }
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(10));
        await p.WaitForExitAsync(timeout.Token);
        var output = await stdout;
        sw.Stop();
        if (p.ExitCode != 0) throw new InvalidOperationException($"{file} failed ({p.ExitCode}): {await stderr}");
        return (sw.Elapsed, output);
    }

    public static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    public static async Task WaitUntil(Func<bool> condition, TimeSpan limit, string what)
    {
        var sw = Stopwatch.StartNew();
        while (!condition())
        {
            if (sw.Elapsed > limit) throw new TimeoutException("gave up waiting for " + what);
            await Task.Delay(1);
        }
    }

    public static double Percentile(List<double> sorted, double p) =>
        sorted.Count == 0 ? double.NaN : sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(p * sorted.Count) - 1)];
}
