using Npgsql;
using Pgrelay.Postgres;

namespace Pgrelay.Replication.Connection;

/// <summary>
/// The source database, from a <c>postgres://</c> / <c>postgresql://</c> URL or an Npgsql connection string.
/// Every connection pgrelay opens (replication, copy, side queries) uses <see cref="PostgresConnectionString.SessionSettings"/>, so
/// values printed by PostgreSQL's output functions are byte-identical in the snapshot and in the stream.
/// </summary>
public sealed class SourceOptions
{
    private readonly NpgsqlConnectionStringBuilder _builder;

    private SourceOptions(NpgsqlConnectionStringBuilder builder) => _builder = builder;

    public string Host => _builder.Host ?? "localhost";
    public int Port => _builder.Port;
    public string Database => _builder.Database ?? _builder.Username ?? "postgres";
    public string? Username => _builder.Username;

    /// <summary>host:port, for messages.</summary>
    public string Endpoint => $"{Host}:{Port}";

    public static SourceOptions Parse(string source)
    {
        if (string.IsNullOrWhiteSpace(source))
            throw new ReplicationSetupException("no source database given (expected postgres://user:pass@host:port/db or a connection string)");
        try { return new SourceOptions(PostgresConnectionString.Parse(source)); }
        catch (FormatException e) { throw new ReplicationSetupException($"source {e.Message}"); }
    }

    /// <summary>Connection string for ordinary sessions (copy, introspection, heartbeats).</summary>
    public string ConnectionString(string applicationName = "pgrelay") => Build(applicationName).ConnectionString;

    /// <summary>Same settings; LogicalReplicationConnection adds replication=database itself.</summary>
    public string ReplicationConnectionString(string applicationName = "pgrelay") => Build(applicationName).ConnectionString;

    /// <summary>
    /// The server's version as the last preflight read it (<c>SHOW server_version_num</c>), or 0 before. Every connection
    /// string carries it, because Npgsql learns a server's version once per connection string and keeps it for the
    /// process: a source replaced by another major version at the same address (pg_upgrade, a failover, a test cluster
    /// on a reused port) would otherwise be spoken to in the old one's dialect (CREATE_REPLICATION_SLOT's PG15 option
    /// list sent to PG14 is a syntax error on every retry).
    /// </summary>
    public int ServerVersionNum
    {
        get => Volatile.Read(ref _serverVersionNum);
        set => Volatile.Write(ref _serverVersionNum, value);
    }

    private int _serverVersionNum;

    private NpgsqlConnectionStringBuilder Build(string applicationName)
    {
        var b = PostgresConnectionString.ForSessions(_builder, applicationName);
        b.Database ??= Database;
        // A placeholder setting (PostgreSQL accepts any dotted name) that only makes the string, and so Npgsql's cache
        // entry, differ per server version.
        if (ServerVersionNum is > 0 and var version) b.Options += $" -c pgrelay.server_version_num={version}";
        return b;
    }

    /// <summary>Why sslmode=verify-ca/verify-full refused the server, when that is what <paramref name="failure"/> was; else null.</summary>
    public Task<string?> ExplainCertificateRefusalAsync(Exception failure, CancellationToken ct) =>
        ServerCertificateDiagnosis.ExplainAsync(_builder, failure, ct);

    public override string ToString() => $"{Username ?? "(default user)"}@{Endpoint}/{Database}";
}
