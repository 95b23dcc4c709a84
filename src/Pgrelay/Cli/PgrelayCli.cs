using System.CommandLine;
using System.Net.Sockets;
using Pgrelay.Configuration;
using Pgrelay.Core.Status;
using Pgrelay.Demo;
using Pgrelay.Hosting;
using Pgrelay.Replication;

namespace Pgrelay.Cli;

/// <summary>The <c>pgrelay</c> command line: <c>run</c> and <c>demo</c>.</summary>
public static class PgrelayCli
{
    /// <summary>This process's start-up, from exec: /status <c>startup</c> and the "served" log line show it.</summary>
    private static readonly StartupTimeline Startup = StartupTimeline.SinceProcessStart();

    public static async Task<int> RunAsync(string[] args)
    {
        Startup.Mark("main");
        var options = new SettingOptions();
        var run = new Command("run", "Replicate PostgreSQL publications into memory and serve them over Redis, memcached and HTTP");
        options.AddTo(run);
        run.SetAction((result, ct) => Guarded(() => RunServerAsync(SettingsLoader.Load(options.Flags(result)), ct)));

        var demo = new Command("demo", "Start a private PostgreSQL with sample data and serve it");
        options.AddTo(demo);
        demo.SetAction((result, ct) => Guarded(() => DemoCommand.RunAsync(options.Flags(result), ct)));

        var root = new RootCommand("pgrelay: PostgreSQL tables in memory, served over Redis, memcached and HTTP, always in step with the database");
        root.Subcommands.Add(run);
        root.Subcommands.Add(demo);
        return await root.Parse(args).InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = StopGrace });
    }

    /// <summary>
    /// How long Ctrl+C / SIGTERM may take before the process exits anyway. System.CommandLine's default (2 s) ended the
    /// process in the middle of a graceful stop: the slot was not dropped and the demo's private PostgreSQL was left
    /// running. A stop drains the listeners (the host allows 30 s), drops the slot (bounded at 10 s) and, in the demo,
    /// removes the private cluster.
    /// </summary>
    private static readonly TimeSpan StopGrace = TimeSpan.FromSeconds(45);

    public static async Task<int> RunServerAsync(PgrelaySettings settings, CancellationToken ct, Func<WebApplication, Task>? started = null)
    {
        Startup.Mark("settings");
        SettingsLoader.RequireSource(settings);
        var replicationOptions = PgrelayHost.ReplicationOptionsFrom(settings);
        replicationOptions.Validate();
        ProtocolListeners.Validate(settings);
        HttpsListener.Validate(settings);
        // Fail fast, before opening any port: wal_level, privileges, publications. Replication's start-up follows it at once
        // (reading the checkpoint meanwhile), beside the host's build and start: in a fresh process the host takes most of the
        // first half second, mostly JIT work, and the start-up mostly waits for the source, so the two share two cores well.
        var preflight = Task.Run(async () =>
        {
            var checkedSource = await PreflightAsync(replicationOptions, ct);
            Startup.Mark("preflight");
            return checkedSource;
        }, ct);
        var core = PgrelayCore.Create(settings, status: new ReplicationStatus { Startup = Startup });
        core.StartEarly(preflight);
        WebApplication built;
        try
        {
            built = PgrelayHost.Build(core);
            Startup.Mark("host built");
        }
        catch
        {
            await core.StopEarlyAsync();
            await preflight;   // a source problem is the one to report, as when preflight ran first
            throw;
        }
        await using var app = built;
        try
        {
            await preflight;
        }
        catch (ReplicationSetupException e) when (e.IsTransient)
        {
            // Down, restarting or starting up: serve /status and /readyz (not ready, saying why) while replication retries
            // with back-off, as any replication client does. Configuration mistakes stay fatal, above and in the service.
            core.Loggers.CreateLogger("Pgrelay").LogWarning("{Problem}; starting anyway and retrying until the source answers", e.Message);
        }
        catch
        {
            await core.StopEarlyAsync();
            throw;
        }
        try
        {
            await app.StartAsync(ct);
        }
        catch
        {
            await core.StopEarlyAsync();
            throw;
        }
        Startup.Mark("host started");
        if (started is not null) await started(app);
        core.Serving();   // streaming starts: every subscriber the host (and the caller) registers sees every change
        await app.WaitForShutdownAsync(ct);
        // A setup problem replication met after start-up (gave up waiting for the source, a publication dropped...):
        // the same one line on stderr as one found before.
        if (app.Services.GetServices<IHostedService>().OfType<ReplicationWorker>().FirstOrDefault()?.SetupFailure is { } failure)
            throw failure;
        return Environment.ExitCode;
    }

    private static Task<PreflightResult> PreflightAsync(ReplicationOptions options, CancellationToken ct) =>
        Preflight.RunAsync(Replication.Connection.SourceOptions.Parse(options.Source), options.Publications.ToList(), ct);

    /// <summary>Problems a user can cause become one line on stderr and a non-zero exit.</summary>
    private static async Task<int> Guarded(Func<Task<int>> action)
    {
        try
        {
            return await action();
        }
        catch (SettingsException e) { return Fail(e.Message, 2); }
        catch (ReplicationSetupException e) { return Fail(e.Message, 1); }
        catch (IOException e) when (e.InnerException is SocketException { SocketErrorCode: SocketError.AddressAlreadyInUse } || e.Message.Contains("address already in use", StringComparison.OrdinalIgnoreCase))
        {
            return Fail($"cannot listen: {e.Message} (choose another address with --http/--resp/--memcached, or 'off')", 1);
        }
        catch (OperationCanceledException) { return 130; }
    }

    private static int Fail(string message, int code)
    {
        Console.Error.WriteLine($"pgrelay: {message}");
        return code;
    }
}
