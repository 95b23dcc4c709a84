using Npgsql;

namespace Pgrelay.Replication.Connection;

/// <summary>
/// The source database, from a <c>postgres://</c> / <c>postgresql://</c> URL or an Npgsql connection string.
/// Every connection pgrelay opens (replication, copy, side queries) uses <see cref="SessionSettings"/>, so
/// values printed by PostgreSQL's output functions are byte-identical in the snapshot and in the stream.
/// </summary>
public sealed class SourceOptions
{
    private readonly NpgsqlConnectionStringBuilder _builder;

    private SourceOptions(NpgsqlConnectionStringBuilder builder) => _builder = builder;

    /// <summary>
    /// GUCs for every session. DateStyle/IntervalStyle/TimeZone fix how dates and intervals print,
    /// extra_float_digits=3 gives shortest-exact floats, bytea_output=hex fixes bytea.
    /// </summary>
    public const string SessionSettings =
        "-c DateStyle=ISO -c IntervalStyle=postgres -c TimeZone=UTC -c extra_float_digits=3 -c bytea_output=hex";

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
        var text = source.Trim();
        NpgsqlConnectionStringBuilder builder;
        if (text.StartsWith("postgres://", StringComparison.OrdinalIgnoreCase) ||
            text.StartsWith("postgresql://", StringComparison.OrdinalIgnoreCase))
            builder = FromUrl(text);
        else
        {
            try { builder = new NpgsqlConnectionStringBuilder(text); }
            catch (ArgumentException e)
            {
                throw new ReplicationSetupException($"source is neither a postgres:// URL nor a valid connection string: {e.Message}");
            }
        }
        return new SourceOptions(builder);
    }

    /// <summary>Connection string for ordinary sessions (copy, introspection, heartbeats).</summary>
    public string ConnectionString(string applicationName = "pgrelay") => Build(applicationName).ConnectionString;

    /// <summary>Same settings; LogicalReplicationConnection adds replication=database itself.</summary>
    public string ReplicationConnectionString(string applicationName = "pgrelay") => Build(applicationName).ConnectionString;

    private NpgsqlConnectionStringBuilder Build(string applicationName)
    {
        var b = new NpgsqlConnectionStringBuilder(_builder.ConnectionString)
        {
            ApplicationName = _builder.ApplicationName ?? applicationName,
            // Our connections are few and long-lived; pooling would only keep dead replication sessions around.
            Pooling = false,
            Options = string.IsNullOrWhiteSpace(_builder.Options) ? SessionSettings : _builder.Options + " " + SessionSettings,
            // Snapshot COPY of a big table runs long.
            CommandTimeout = 0,
        };
        if (b.Database is null) b.Database = Database;
        return b;
    }

    private static NpgsqlConnectionStringBuilder FromUrl(string url)
    {
        Uri uri;
        try { uri = new Uri(url); }
        catch (UriFormatException e) { throw new ReplicationSetupException($"source URL is malformed: {e.Message}"); }

        var b = new NpgsqlConnectionStringBuilder();
        if (!string.IsNullOrEmpty(uri.Host)) b.Host = uri.Host.Trim('[', ']');
        b.Port = uri.IsDefaultPort || uri.Port <= 0 ? 5432 : uri.Port;
        if (!string.IsNullOrEmpty(uri.UserInfo))
        {
            var parts = uri.UserInfo.Split(':', 2);
            b.Username = Uri.UnescapeDataString(parts[0]);
            if (parts.Length == 2) b.Password = Uri.UnescapeDataString(parts[1]);
        }
        var db = Uri.UnescapeDataString(uri.AbsolutePath.TrimStart('/'));
        if (db.Length > 0) b.Database = db;

        foreach (var pair in uri.Query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var kv = pair.Split('=', 2);
            var key = Uri.UnescapeDataString(kv[0]).ToLowerInvariant();
            var value = kv.Length == 2 ? Uri.UnescapeDataString(kv[1].Replace('+', ' ')) : "";
            switch (key)
            {
                case "sslmode":
                    b.SslMode = value.ToLowerInvariant() switch
                    {
                        "disable" => SslMode.Disable,
                        "allow" => SslMode.Allow,
                        "prefer" => SslMode.Prefer,
                        "require" => SslMode.Require,
                        "verify-ca" => SslMode.VerifyCA,
                        "verify-full" => SslMode.VerifyFull,
                        _ => throw new ReplicationSetupException($"source URL has unknown sslmode '{value}' (disable, allow, prefer, require, verify-ca, verify-full)"),
                    };
                    break;
                case "sslrootcert": b.RootCertificate = value; break;
                case "sslcert": b.SslCertificate = value; break;
                case "sslkey": b.SslKey = value; break;
                case "application_name": b.ApplicationName = value; break;
                case "connect_timeout": b.Timeout = int.Parse(value, System.Globalization.CultureInfo.InvariantCulture); break;
                case "options": b.Options = value; break;
                case "user": b.Username = value; break;
                case "password": b.Password = value; break;
                case "host": b.Host = value; break;
                case "port": b.Port = int.Parse(value, System.Globalization.CultureInfo.InvariantCulture); break;
                case "dbname": b.Database = value; break;
                default:
                    throw new ReplicationSetupException($"source URL has unsupported parameter '{key}'");
            }
        }
        return b;
    }

    public override string ToString() => $"{Username ?? "(default user)"}@{Endpoint}/{Database}";
}
