using System.Runtime.InteropServices;
using Npgsql;

namespace Pgrelay.Replication.Local;

/// <summary>
/// A throwaway PostgreSQL cluster in a temp folder, listening on 127.0.0.1 at a free port, configured for
/// logical replication. Used by integration tests and by <c>pgrelay demo</c>. Disposing stops it and deletes
/// the folder.
/// </summary>
public sealed class PrivatePostgresCluster : IAsyncDisposable
{
    private const string PostgresUser = "postgres";

    private readonly PrivateClusterOptions _options;
    private readonly string? _runAs;
    private ReservedPort _port;
    private int _disposed;

    /// <summary>Times a first start moves to another port because something else bound its port first.</summary>
    private const int PortAttempts = 5;

    private PrivatePostgresCluster(PrivateClusterOptions options, string directory, ReservedPort port, string? runAs)
    {
        _options = options;
        Directory = directory;
        _port = port;
        _runAs = runAs;
    }

    /// <summary>The cluster's temp folder: data in <c>data/</c>, server log in <c>postgres.log</c>, the unix socket.</summary>
    public string Directory { get; }
    public string DataDirectory => Path.Combine(Directory, "data");
    public string LogFile => Path.Combine(Directory, "postgres.log");
    /// <summary>Fixed once <see cref="StartAsync"/> returns (it may move to another port while it starts).</summary>
    public int Port => _port.Number;
    public string Host => "127.0.0.1";

    /// <summary>Npgsql connection string for the superuser postgres to database postgres.</summary>
    public string ConnectionString => ConnectionStringFor("postgres");

    public string ConnectionStringFor(string database, string user = PostgresUser) => new NpgsqlConnectionStringBuilder
    {
        Host = Host,
        Port = Port,
        Username = user,
        Database = database,
        Pooling = false,
    }.ConnectionString;

    /// <summary>A postgres:// URL for the same database, as a user would pass it to pgrelay.</summary>
    public string UrlFor(string database, string user = PostgresUser) => $"postgres://{user}@{Host}:{Port}/{database}";

    public static async Task<PrivatePostgresCluster> StartAsync(PrivateClusterOptions? options = null, CancellationToken ct = default)
    {
        options ??= new PrivateClusterOptions();
        var parent = options.ParentDirectory ?? Path.GetTempPath();
        var directory = Path.Combine(parent, "pgrelay-pg-" + Guid.NewGuid().ToString("N")[..12]);
        System.IO.Directory.CreateDirectory(directory);
        string? runAs = IsRoot() ? PostgresUser : null;
        using var candidates = (options.CandidatePorts ?? ReservedPort.Candidates()).GetEnumerator();
        var port = options.Port is { } given ? ReservedPort.Given(given) : ReservedPort.Reserve(candidates);
        var cluster = new PrivatePostgresCluster(options, directory, port, runAs);
        try
        {
            await cluster.InitializeAsync(ct).ConfigureAwait(false);
            await cluster.FirstStartAsync(options.Port is null ? candidates : null, ct).ConfigureAwait(false);
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public async Task CreateDatabaseAsync(string name, CancellationToken ct = default)
    {
        await using var conn = new NpgsqlConnection(ConnectionString);
        await conn.OpenAsync(ct).ConfigureAwait(false);
        await using var cmd = new NpgsqlCommand($"CREATE DATABASE \"{name.Replace("\"", "\"\"")}\"", conn);
        await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    /// <summary>Fast restart: drops every connection, as a crash or failover would for replication clients.</summary>
    public async Task RestartAsync(CancellationToken ct = default)
    {
        await PgCtlAsync(ct, "restart", "-m", "fast", "-w", "-t", ((int)_options.StartTimeout.TotalSeconds).ToString(),
            "-D", DataDirectory, "-l", LogFile).ConfigureAwait(false);
    }

    /// <summary>Starts the server again after <see cref="StopAsync"/>, on the same port and data.</summary>
    public Task StartStoppedAsync(CancellationToken ct = default) => StartServerAsync(ct);

    public async Task StopAsync(CancellationToken ct = default)
    {
        await PgCtlAsync(ct, "stop", "-m", "fast", "-w", "-D", DataDirectory).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        if (File.Exists(Path.Combine(DataDirectory, "postmaster.pid")))
        {
            try
            {
                await ProcessRunner.RunAsync(Bin("pg_ctl"), ["stop", "-m", "immediate", "-w", "-D", DataDirectory], _runAs,
                    CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception) { /* best effort: the folder goes anyway */ }
        }
        _port.Dispose();
        try { System.IO.Directory.Delete(Directory, recursive: true); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }

    /// <summary>The last lines of the server log, for error messages.</summary>
    public string LogTail(int lines = 30)
    {
        try
        {
            if (!File.Exists(LogFile)) return "(no server log)";
            var all = File.ReadAllLines(LogFile);
            return string.Join(Environment.NewLine, all.Skip(Math.Max(0, all.Length - lines)));
        }
        catch (IOException e) { return "(server log unreadable: " + e.Message + ")"; }
    }

    private async Task InitializeAsync(CancellationToken ct)
    {
        if (_runAs is not null)
        {
            var chown = await ProcessRunner.RunAsync("chown", ["-R", _runAs + ":", Directory], null, ct).ConfigureAwait(false);
            if (chown.ExitCode != 0) throw new InvalidOperationException($"chown {Directory} failed: {chown.Output.Trim()}");
        }
        var init = await ProcessRunner.RunAsync(Bin("initdb"),
            ["-D", DataDirectory, "-U", PostgresUser, "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"], _runAs, ct)
            .ConfigureAwait(false);
        if (init.ExitCode != 0) throw new InvalidOperationException($"initdb failed ({init.ExitCode}): {Tail(init.Output)}");

        var conf = new List<string>
        {
            "# written by pgrelay's PrivatePostgresCluster",
            "listen_addresses = '127.0.0.1'",
            $"port = {Port}",
            $"unix_socket_directories = '{Directory}'",
            $"wal_level = {_options.WalLevel}",
            $"max_replication_slots = {_options.MaxReplicationSlots}",
            $"max_wal_senders = {_options.MaxWalSenders}",
            $"logical_decoding_work_mem = '{_options.LogicalDecodingWorkMem}'",
            "fsync = off",
            "synchronous_commit = off",
            "full_page_writes = off",
            "max_connections = 100",
            "shared_buffers = '64MB'",
            "wal_sender_timeout = '60s'",
        };
        conf.AddRange(_options.ExtraSettings);
        await File.AppendAllLinesAsync(Path.Combine(DataDirectory, "postgresql.conf"), conf, ct).ConfigureAwait(false);
        // initdb -A trust already trusts local connections; state it explicitly, including replication.
        await File.WriteAllLinesAsync(Path.Combine(DataDirectory, "pg_hba.conf"),
        [
            "local all all trust",
            "local replication all trust",
            "host all all 127.0.0.1/32 trust",
            "host replication all 127.0.0.1/32 trust",
        ], ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Starts the new cluster. When its port was chosen here and the postmaster could not bind it (a process outside these
    /// reservations took it meanwhile), it moves to the next candidate instead of failing the test that asked for it.
    /// </summary>
    private async Task FirstStartAsync(IEnumerator<int>? candidates, CancellationToken ct)
    {
        for (int attempt = 1; ; attempt++)
        {
            long logStart = File.Exists(LogFile) ? new FileInfo(LogFile).Length : 0;
            try
            {
                await StartServerAsync(ct).ConfigureAwait(false);
                return;
            }
            catch (InvalidOperationException) when (candidates is not null && attempt < PortAttempts && CouldNotBind(logStart))
            {
                _port.Dispose();
                _port = ReservedPort.Reserve(candidates);
                // The last setting in postgresql.conf wins.
                await File.AppendAllLinesAsync(Path.Combine(DataDirectory, "postgresql.conf"), [$"port = {Port}"], ct).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Whether the server log since <paramref name="from"/> says the postmaster could not listen on its port.</summary>
    private bool CouldNotBind(long from)
    {
        try
        {
            using var log = new FileStream(LogFile, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            log.Seek(Math.Min(from, log.Length), SeekOrigin.Begin);
            var text = new StreamReader(log).ReadToEnd();
            return text.Contains("could not bind", StringComparison.Ordinal) || text.Contains("could not create any TCP/IP sockets", StringComparison.Ordinal);
        }
        catch (IOException) { return false; }
    }

    private async Task StartServerAsync(CancellationToken ct)
    {
        var result = await ProcessRunner.RunAsync(Bin("pg_ctl"),
            ["start", "-w", "-t", ((int)_options.StartTimeout.TotalSeconds).ToString(), "-D", DataDirectory, "-l", LogFile],
            _runAs, ct).ConfigureAwait(false);
        if (result.ExitCode != 0)
            throw new InvalidOperationException($"PostgreSQL did not start on port {Port}: {Tail(result.Output)}{Environment.NewLine}server log:{Environment.NewLine}{LogTail()}");
    }

    private async Task PgCtlAsync(CancellationToken ct, params string[] args)
    {
        var result = await ProcessRunner.RunAsync(Bin("pg_ctl"), args, _runAs, ct).ConfigureAwait(false);
        if (result.ExitCode != 0)
            throw new InvalidOperationException($"pg_ctl {args[0]} failed ({result.ExitCode}): {Tail(result.Output)}{Environment.NewLine}server log:{Environment.NewLine}{LogTail()}");
    }

    private string Bin(string name) => Path.Combine(_options.BinDirectory, name);

    private static string Tail(string output) => output.Length <= 2000 ? output.Trim() : output[^2000..].Trim();

    private static bool IsRoot()
    {
        if (Environment.UserName == "root") return true;
        return OperatingSystem.IsLinux() && geteuid() == 0;
    }

    [DllImport("libc", SetLastError = false)]
    private static extern uint geteuid();
}
