using Npgsql;

namespace Pgrelay.Sinks.Targets;

/// <summary>
/// A target database from a <c>postgres://user:pass@host:port/db?sslmode=...</c> URL or an Npgsql connection string.
/// Sessions use the same output settings as the source side, so values are written back in the form they were read.
/// </summary>
public static class PostgresUrl
{
    public static string ConnectionString(string target, string applicationName)
    {
        var text = target.Trim();
        NpgsqlConnectionStringBuilder b;
        if (text.StartsWith("postgres://", StringComparison.OrdinalIgnoreCase) || text.StartsWith("postgresql://", StringComparison.OrdinalIgnoreCase))
            b = FromUrl(new Uri(text));
        else
            b = new NpgsqlConnectionStringBuilder(text);
        b.ApplicationName ??= applicationName;
        b.Pooling = false;
        b.CommandTimeout = 0;
        b.Options = ((b.Options ?? "") + " -c DateStyle=ISO -c IntervalStyle=postgres -c TimeZone=UTC -c extra_float_digits=3 -c bytea_output=hex").Trim();
        return b.ConnectionString;
    }

    private static NpgsqlConnectionStringBuilder FromUrl(Uri uri)
    {
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
                case "sslmode": b.SslMode = Enum.Parse<SslMode>(value.Replace("-", ""), ignoreCase: true); break;
                case "sslrootcert": b.RootCertificate = value; break;
                case "application_name": b.ApplicationName = value; break;
                case "connect_timeout": b.Timeout = int.Parse(value, System.Globalization.CultureInfo.InvariantCulture); break;
                case "options": b.Options = value; break;
                case "user": b.Username = value; break;
                case "password": b.Password = value; break;
                case "dbname": b.Database = value; break;
                default: throw new FormatException($"unsupported URL parameter '{key}'");
            }
        }
        return b;
    }
}
