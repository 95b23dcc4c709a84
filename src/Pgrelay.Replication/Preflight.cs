using System.Net.Sockets;
using Npgsql;
using Npgsql.Replication.PgOutput;
using Pgrelay.Replication.Connection;

namespace Pgrelay.Replication;

/// <summary>What preflight learned about the server.</summary>
public sealed record PreflightResult(int ServerVersionNum, int ProtocolVersion);

/// <summary>
/// Checks, before anything is created, that the source can feed pgrelay: reachable, PostgreSQL 14+,
/// wal_level=logical, a user with REPLICATION (or superuser), and every named publication present.
/// Each failure is a <see cref="ReplicationSetupException"/> with one line the user can act on.
/// </summary>
public static class Preflight
{
    public static async Task<PreflightResult> RunAsync(SourceOptions source, IReadOnlyCollection<string> publications, CancellationToken ct)
    {
        await using var conn = await OpenAsync(source, ct).ConfigureAwait(false);
        try
        {
            return await CheckAsync(conn, source, publications, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not ReplicationSetupException && !ct.IsCancellationRequested && TransientFailure.Is(e))
        {
            // The server went away between the connect and the checks (a shutdown or restart: 57P01, a broken socket). The
            // same wait as a refused connect, not an unhandled exception: the CLI's preflight runs outside the service's retries.
            throw new ReplicationSetupException($"lost the connection to {source} while checking it: {Describe(e)}", e);
        }
    }

    private static async Task<PreflightResult> CheckAsync(NpgsqlConnection conn, SourceOptions source, IReadOnlyCollection<string> publications,
        CancellationToken ct)
    {

        int version = conn.PostgreSqlVersion.Major * 10000 + Math.Max(0, conn.PostgreSqlVersion.Minor);
        var versionNum = await ScalarAsync<string>(conn, "SHOW server_version_num", ct).ConfigureAwait(false);
        if (int.TryParse(versionNum, out var v)) version = v;
        int protocol = ProtocolVersionFor(version, source);

        var walLevel = await ScalarAsync<string>(conn, "SHOW wal_level", ct).ConfigureAwait(false);
        if (walLevel != "logical")
            throw new ReplicationSetupException(
                $"wal_level is '{walLevel}' on {source.Endpoint}; pgrelay needs wal_level=logical (ALTER SYSTEM SET wal_level = logical; then restart PostgreSQL)");

        var user = await ScalarAsync<string>(conn, "SELECT current_user", ct).ConfigureAwait(false);
        var canReplicate = await ScalarAsync<bool>(conn,
            "SELECT rolreplication OR rolsuper FROM pg_roles WHERE rolname = current_user", ct).ConfigureAwait(false);
        if (!canReplicate)
            throw new ReplicationSetupException(
                $"user '{user}' on {source.Endpoint} may not replicate; grant it with ALTER ROLE \"{user}\" WITH REPLICATION (or connect as a superuser)");

        if (publications.Count == 0)
            throw new ReplicationSetupException("no publication given; name at least one (CREATE PUBLICATION pgrelay FOR TABLE ...)");
        var existing = new HashSet<string>();
        await using (var cmd = new NpgsqlCommand("SELECT pubname FROM pg_publication WHERE pubname = ANY(@names)", conn))
        {
            cmd.Parameters.AddWithValue("names", publications.ToArray());
            await using var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await reader.ReadAsync(ct).ConfigureAwait(false)) existing.Add(reader.GetString(0));
        }
        var missing = publications.Where(p => !existing.Contains(p)).ToList();
        if (missing.Count > 0)
            throw new ReplicationSetupException(missing.Count == 1
                ? $"publication '{missing[0]}' does not exist in database '{source.Database}' on {source.Endpoint} (CREATE PUBLICATION {missing[0]} FOR TABLE ...)"
                : $"publications {string.Join(", ", missing.Select(m => $"'{m}'"))} do not exist in database '{source.Database}' on {source.Endpoint}");

        return new PreflightResult(version, protocol);
    }

    /// <summary>
    /// The newest pgoutput protocol each server speaks: 2 on PG14 (streaming), 3 on PG15 (two-phase messages we do not
    /// ask for), 4 on PG16+ (parallel streaming, see <see cref="StreamingModeFor"/>).
    /// </summary>
    public static int ProtocolVersionFor(int serverVersionNum, SourceOptions source) => serverVersionNum switch
    {
        < 140000 => throw new ReplicationSetupException(
            $"PostgreSQL {serverVersionNum / 10000} on {source.Endpoint} is too old; pgrelay needs PostgreSQL 14 or later"),
        < 150000 => 2,
        < 160000 => 3,
        _ => 4,
    };

    /// <summary>
    /// Streaming of in-progress transactions: <c>parallel</c> from protocol 4 on, <c>on</c> before. Npgsql reads every
    /// protocol-4 Stream Abort in the parallel form (with abort LSN and time), but with <c>streaming = on</c> PostgreSQL
    /// sends the short form: Npgsql then takes 16 bytes of the next message and the stream breaks at the first aborted
    /// streamed transaction or rolled-back savepoint. <c>parallel</c> changes nothing else on the wire (the server only
    /// adds those two fields); applying in parallel is the subscriber's business, and pgrelay still applies a streamed
    /// transaction whole at its commit, in commit order.
    /// </summary>
    public static PgOutputStreamingMode StreamingModeFor(int protocolVersion) =>
        protocolVersion >= 4 ? PgOutputStreamingMode.Parallel : PgOutputStreamingMode.On;

    /// <summary>Opens an ordinary session with pgrelay's settings, turning connection failures into one line.</summary>
    public static async Task<NpgsqlConnection> OpenAsync(SourceOptions source, CancellationToken ct)
    {
        var conn = new NpgsqlConnection(source.ConnectionString());
        try
        {
            await conn.OpenAsync(ct).ConfigureAwait(false);
            return conn;
        }
        catch (Exception e) when (e is NpgsqlException or SocketException or TimeoutException or IOException)
        {
            await conn.DisposeAsync().ConfigureAwait(false);
            var reason = await source.ExplainCertificateRefusalAsync(e, ct).ConfigureAwait(false) ?? Describe(e);
            throw new ReplicationSetupException($"cannot connect to {source}: {reason}", e);
        }
    }

    /// <summary>One line for an exception: PostgreSQL's message, or the innermost socket error.</summary>
    public static string Describe(Exception e)
    {
        if (e is PostgresException pg) return pg.MessageText;
        var inner = e;
        while (inner.InnerException is not null) inner = inner.InnerException;
        var text = inner == e ? e.Message : $"{e.Message} ({inner.Message})";
        return text.ReplaceLineEndings(" ");
    }

    private static async Task<T> ScalarAsync<T>(NpgsqlConnection conn, string sql, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(sql, conn);
        var value = await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false);
        return value is T t ? t : default!;
    }
}
