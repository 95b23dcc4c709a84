using System.Globalization;
using Npgsql;

namespace Pgrelay.Postgres;

/// <summary>
/// A PostgreSQL database named by a libpq-style <c>postgres://user:pass@host:port/db?sslmode=…</c> URL (also
/// <c>postgresql://</c>) or an Npgsql connection string. One parser for the source and for sink targets, so both accept
/// the same forms and fail with the same messages.
/// </summary>
public static class PostgresConnectionString
{
    /// <summary>
    /// GUCs for every session pgrelay opens. DateStyle/IntervalStyle/TimeZone fix how dates and intervals print,
    /// extra_float_digits=3 gives shortest-exact floats, bytea_output=hex fixes bytea: values printed by PostgreSQL's
    /// output functions are then byte-identical in the snapshot and in the stream, and read back unchanged by a target.
    /// </summary>
    public const string SessionSettings =
        "-c DateStyle=ISO -c IntervalStyle=postgres -c TimeZone=UTC -c extra_float_digits=3 -c bytea_output=hex";

    /// <summary>Parses a URL or connection string; anything wrong throws <see cref="FormatException"/> with one clear line.</summary>
    public static NpgsqlConnectionStringBuilder Parse(string text)
    {
        var trimmed = text.Trim();
        if (IsUrl(trimmed)) return FromUrl(trimmed);
        try { return new NpgsqlConnectionStringBuilder(trimmed); }
        catch (ArgumentException e)
        {
            throw new FormatException($"neither a postgres:// URL nor a valid connection string: {e.Message}", e);
        }
    }

    public static bool IsUrl(string text) =>
        text.StartsWith("postgres://", StringComparison.OrdinalIgnoreCase) || text.StartsWith("postgresql://", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// A copy for pgrelay's own sessions: the session settings appended to the user's options, no pooling (our
    /// connections are few and long-lived; a pool would only keep dead replication sessions around), no command timeout
    /// (a snapshot COPY or a big batch runs long), and an application name unless the user gave one.
    /// </summary>
    public static NpgsqlConnectionStringBuilder ForSessions(NpgsqlConnectionStringBuilder source, string applicationName) =>
        new(source.ConnectionString)
        {
            ApplicationName = source.ApplicationName ?? applicationName,
            Pooling = false,
            CommandTimeout = 0,
            Options = string.IsNullOrWhiteSpace(source.Options) ? SessionSettings : source.Options + " " + SessionSettings,
        };

    private static NpgsqlConnectionStringBuilder FromUrl(string url)
    {
        Uri uri;
        try { uri = new Uri(url); }
        catch (UriFormatException e) { throw new FormatException($"URL is malformed: {e.Message}", e); }

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
                case "sslmode": b.SslMode = SslModeFrom(value); break;
                case "sslrootcert": b.RootCertificate = value; break;
                case "sslcert": b.SslCertificate = value; break;
                case "sslkey": b.SslKey = value; break;
                case "application_name": b.ApplicationName = value; break;
                case "connect_timeout": b.Timeout = Number(key, value, min: 0); break;   // 0: wait forever, as in libpq
                case "options": b.Options = value; break;
                case "user": b.Username = value; break;
                case "password": b.Password = value; break;
                case "host": b.Host = value; break;
                case "port": b.Port = Number(key, value, min: 1); break;
                case "dbname": b.Database = value; break;
                default: throw new FormatException($"URL has unsupported parameter '{key}'");
            }
        }
        return b;
    }

    private static SslMode SslModeFrom(string value) => value.ToLowerInvariant() switch
    {
        "disable" => SslMode.Disable,
        "allow" => SslMode.Allow,
        "prefer" => SslMode.Prefer,
        "require" => SslMode.Require,
        "verify-ca" => SslMode.VerifyCA,
        "verify-full" => SslMode.VerifyFull,
        _ => throw new FormatException($"URL has unknown sslmode '{value}' (disable, allow, prefer, require, verify-ca, verify-full)"),
    };

    private static int Number(string key, string value, int min) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out int n) && n >= min
            ? n
            : throw new FormatException($"URL parameter {key} must be a whole number from {min}, not '{value}'");
}
