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
        // Fail fast, before opening any port: wal_level, privileges, publications. Building the host opens no port, so it
        // runs meanwhile: in a fresh process both are mostly JIT work, which two cores share. The service then starts
        // from this preflight instead of repeating it.
        var preflight = Task.Run(async () =>
        {
            var checkedSource = await PreflightAsync(replicationOptions, ct);
            Startup.Mark("preflight");
            return checkedSource;
        }, ct);
        WebApplication built;
        try
        {
            built = PgrelayHost.Build(settings, status: new ReplicationStatus { Startup = Startup });
            Startup.Mark("host built");
        }
        catch
        {
            await preflight;   // a source problem is the one to report, as when preflight ran first
            throw;
        }
        await using var app = built;
        try
        {
            app.Services.GetRequiredService<ReplicationService>().UsePreflight(await preflight);
        }
        catch (ReplicationSetupException e) when (e.IsTransient)
        {
            // Down, restarting or starting up: serve /status and /readyz (not ready, saying why) while replication retries
            // with back-off, as any replication client does. Configuration mistakes stay fatal, above and in the service.
            app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Pgrelay")
                .LogWarning("{Problem}; starting anyway and retrying until the source answers", e.Message);
        }
        await app.StartAsync(ct);
        Startup.Mark("host started");
        if (started is not null) await started(app);
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
