using Npgsql;
using Pgrelay.Cli;
using Pgrelay.Configuration;
using Pgrelay.Core.Keys;
using Pgrelay.Replication.Local;
using Pgrelay.Store;

namespace Pgrelay.Demo;

/// <summary>
/// <c>pgrelay demo</c>: a private PostgreSQL 15 in a temp folder, loaded with the grades sample, served by
/// a full pgrelay. Prints what to try and every change as it commits.
/// </summary>
internal static class DemoCommand
{
    public static async Task<int> RunAsync(Dictionary<string, string?> flags, CancellationToken ct)
    {
        Console.Error.WriteLine("pgrelay demo: starting a private PostgreSQL 15 ...");
        await using var cluster = await PrivatePostgresCluster.StartAsync(null, ct);
        await using (var connection = new NpgsqlConnection(cluster.ConnectionString))
        {
            await connection.OpenAsync(ct);
            await using var seed = new NpgsqlCommand(GradesSample.Sql, connection);
            await seed.ExecuteNonQueryAsync(ct);
        }

        flags[SettingKeys.Source] ??= cluster.UrlFor("postgres");
        flags[SettingKeys.Publication] ??= GradesSample.Publication;
        var settings = SettingsLoader.Load(flags);
        return await PgrelayCli.RunServerAsync(settings, ct, app =>
        {
            PrintWhatToTry(settings, cluster);
            var store = app.Services.GetRequiredService<ReplicatedStore>();
            store.Feed.Listen(transaction =>
            {
                foreach (var change in transaction.Changes)
                {
                    var key = change.KeyRow is { } row
                        ? $"{GradesSample.Publication}.{change.Schema.KeyName}.{CacheKey.RowKeyString(new(row), change.Schema, change.KeyCopy)}"
                        : $"{GradesSample.Publication}.{change.Schema.KeyName}";
                    Console.Error.WriteLine($"change at {transaction.CommitLsn}: {change.Kind.ToString().ToLowerInvariant()} {key}");
                }
            });
            return Task.CompletedTask;
        });
    }

    private static void PrintWhatToTry(PgrelaySettings settings, PrivatePostgresCluster cluster)
    {
        var lines = new List<string> { "", "pgrelay demo is running. Try:" };
        if (settings.Http is { } http)
        {
            lines.Add($"  curl http://{http}/");
            lines.Add($"  curl http://{http}/pub/grades/234-56-7890");
            lines.Add($"  curl 'http://{http}/pub/grades?limit=5'");
        }
        if (settings.Resp is { } resp)
        {
            lines.Add($"  redis-cli -h {resp.Address} -p {resp.Port} HGETALL pub.grades.234-56-7890");
            lines.Add($"  redis-cli -h {resp.Address} -p {resp.Port} PSUBSCRIBE '__keyspace@0__:pub.grades.*'   (live notifications)");
        }
        if (settings.Memcached is { } memcached)
            lines.Add($"  memccat --servers={memcached.Address}:{memcached.Port} pub.grades.234-56-7890");
        if (settings.Http is { } web)
        {
            lines.Add($"  curl -N http://{web}/pub/grades/changes   (live changes as server-sent events)");
            lines.Add($"  open http://{web}/ in a browser for the dashboard");
        }
        lines.Add("then change the database and read again:");
        lines.Add($"  psql '{cluster.UrlFor("postgres")}' -c \"UPDATE grades SET grade = 'A+' WHERE ssn = '234-56-7890'\"");
        lines.Add("Ctrl+C stops pgrelay and removes the private PostgreSQL.");
        lines.Add("");
        Console.Error.WriteLine(string.Join(Environment.NewLine, lines));
    }
}
