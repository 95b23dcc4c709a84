using System.Net;
using Npgsql;
using StackExchange.Redis;

namespace Pgrelay.Sinks.Delivery;

/// <summary>
/// Tells failures that retrying cannot cure (the data or the target is wrong: a value the target column cannot hold, a
/// constraint, a missing privilege, a webhook answering 400) from transient ones (a network error, a restarting server,
/// a deadlock). Both are retried, since nothing may be skipped; a permanent one shows as the sink's state "failed" and
/// is retried only at the longest back-off, until someone fixes the target.
/// </summary>
public static class Failures
{
    public static bool IsPermanent(Exception e)
    {
        for (var x = e; x is not null; x = x.InnerException)
        {
            switch (x)
            {
                case SinkPermanentException:
                    return true;
                case PostgresException pg:
                    return PermanentSqlState(pg.SqlState);
                case HttpRequestException { StatusCode: { } status }:
                    return (int)status is >= 400 and < 500 && status is not (HttpStatusCode.RequestTimeout or HttpStatusCode.TooManyRequests);
                case RedisServerException redis:
                    // A script or type error (WRONGTYPE, ERR ...) stays; OOM, LOADING, BUSY, READONLY, CLUSTERDOWN... pass.
                    return redis.Message.StartsWith("WRONGTYPE", StringComparison.Ordinal) || redis.Message.StartsWith("ERR", StringComparison.Ordinal);
                case UnauthorizedAccessException:
                    return true;
            }
        }
        return false;
    }

    /// <summary>
    /// SQLSTATE classes that no retry changes: 22 data exception (22P02 invalid text for the type, 22001 too long...),
    /// 23 integrity constraint violation, 42 syntax error or access rule violation (42501 privilege, 42804 datatype
    /// mismatch...), 0A feature not supported, 28 invalid authorization, 3D invalid catalog name (no such database).
    /// Connection problems (08), resources (53), operator intervention (57), serialization failures and deadlocks (40)
    /// and the rest are transient.
    /// </summary>
    public static bool PermanentSqlState(string state) => state.Length == 5 && state[..2] is "22" or "23" or "42" or "0A" or "28" or "3D";
}
