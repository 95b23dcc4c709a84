using Pgrelay.Postgres;

namespace Pgrelay.Sinks.Targets;

/// <summary>
/// A target database from a <c>postgres://</c> URL or an Npgsql connection string (the source's parser). Sessions use
/// the source side's output settings, so values are written back in the form they were read.
/// </summary>
public static class PostgresUrl
{
    /// <exception cref="FormatException">The target is neither a valid URL nor a connection string.</exception>
    public static string ConnectionString(string target, string applicationName) =>
        PostgresConnectionString.ForSessions(PostgresConnectionString.Parse(target), applicationName).ConnectionString;
}
