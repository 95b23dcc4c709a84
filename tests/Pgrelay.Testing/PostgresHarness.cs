using Npgsql;
using Pgrelay.Core.Model;
using Pgrelay.Replication.Connection;
using Pgrelay.Replication.Local;

namespace Pgrelay.Testing;

/// <summary>
/// A private PostgreSQL cluster of one major version (<see cref="PostgresServers"/>; 15 unless asked otherwise) for a
/// test class, plus helpers to run SQL. Test projects wrap it in an xunit fixture (this project stays free of xunit).
/// Each test should use its own database (<see cref="NewDatabaseAsync"/>) so slots and publications never collide.
/// </summary>
public class PostgresHarness(int? version = null) : IAsyncDisposable
{
    private int _databases;

    /// <summary>The PostgreSQL major version this harness runs (14–18).</summary>
    public int Version { get; } = version ?? PostgresServers.Default;

    public PrivatePostgresCluster Cluster { get; private set; } = null!;

    /// <summary>Cluster options; change them before <see cref="StartAsync"/>.</summary>
    public PrivateClusterOptions Options { get; } = new()
    {
        // Small enough that any sizeable transaction is streamed before it commits.
        LogicalDecodingWorkMem = "64kB",
    };

    public async Task StartAsync()
    {
        Options.BinDirectory = await PostgresServers.BinDirectoryAsync(Version);
        Cluster = await PrivatePostgresCluster.StartAsync(Options);
        // The binaries found must be the version asked for; a test that says "on 17" must have run on 17.
        var running = int.Parse(await ScalarAsync<string>("postgres", "SHOW server_version_num")) / 10000;
        if (running != Version)
            throw new InvalidOperationException($"asked for PostgreSQL {Version}, but {Options.BinDirectory} runs {running}");
    }

    /// <summary>Creates a fresh database and returns its name.</summary>
    public async Task<string> NewDatabaseAsync(string prefix = "t")
    {
        var name = $"{prefix}{Interlocked.Increment(ref _databases)}";
        await Cluster.CreateDatabaseAsync(name);
        return name;
    }

    /// <summary>A connection string with pgrelay's session settings, so text values compare byte for byte.</summary>
    public string ConnectionString(string database) =>
        SourceOptions.Parse(Cluster.ConnectionStringFor(database)).ConnectionString("pgrelay-test");

    public async Task<NpgsqlConnection> OpenAsync(string database)
    {
        var conn = new NpgsqlConnection(ConnectionString(database));
        await conn.OpenAsync();
        return conn;
    }

    public async Task ExecuteAsync(string database, string sql)
    {
        await using var conn = await OpenAsync(database);
        await using var cmd = new NpgsqlCommand(sql, conn) { CommandTimeout = 600 };
        await cmd.ExecuteNonQueryAsync();
    }

    public async Task<T> ScalarAsync<T>(string database, string sql)
    {
        await using var conn = await OpenAsync(database);
        await using var cmd = new NpgsqlCommand(sql, conn) { CommandTimeout = 600 };
        return (T)(await cmd.ExecuteScalarAsync())!;
    }

    /// <summary>
    /// Writes a transactional logical message and returns its LSN: the commit of that tiny transaction comes
    /// after it, so once the target has applied this LSN it has applied everything committed before the call.
    /// </summary>
    public async Task<Lsn> SyncPointAsync(string database)
    {
        var lsn = await ScalarAsync<NpgsqlTypes.NpgsqlLogSequenceNumber>(database,
            "SELECT pg_logical_emit_message(true, 'pgrelay.sync', '')");
        return new Lsn((ulong)lsn);
    }

    /// <summary>Every row of a table as text (columns in the given order), keyed by its key columns joined with '/'.</summary>
    public async Task<Dictionary<string, string?[]>> ReadTableAsync(string database, TableSchema schema)
    {
        var columns = string.Join(", ", schema.Columns.Select(c => $"\"{c.Name.Replace("\"", "\"\"")}\"::text"));
        var rows = new Dictionary<string, string?[]>();
        await using var conn = await OpenAsync(database);
        await using var cmd = new NpgsqlCommand($"SELECT {columns} FROM {schema.QualifiedName}", conn) { CommandTimeout = 600 };
        await using var reader = await cmd.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            var values = new string?[schema.Columns.Count];
            for (int i = 0; i < values.Length; i++) values[i] = reader.IsDBNull(i) ? null : reader.GetString(i);
            rows[string.Join('/', schema.KeyColumns.Select(k => values[k]))] = values;
        }
        return rows;
    }

    /// <summary>Polls until <paramref name="condition"/> holds; throws after <paramref name="timeout"/> (not a timing assertion: a hang guard).</summary>
    public static async Task WaitUntilAsync(Func<bool> condition, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"gave up waiting for {what} after {timeout.TotalSeconds:0}s");
            await Task.Delay(20);
        }
    }

    public virtual async ValueTask DisposeAsync()
    {
        if (Cluster is not null) await Cluster.DisposeAsync();
        GC.SuppressFinalize(this);
    }
}
