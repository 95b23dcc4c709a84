using Microsoft.Extensions.Logging;
using Npgsql;
using Pgrelay.Core.Status;
using Pgrelay.Replication.Connection;

namespace Pgrelay.Replication.Reloads;

/// <summary>
/// Looks at the replicated publications every <see cref="ReplicationOptions.PublicationPollInterval"/>, and at once when the
/// stream names a table pgrelay does not hold, and tells <see cref="TableReloads"/> what differs from what is held:
/// tables added (load them), removed (remove them), removed and added again or with other columns (load them again). The
/// stream announces none of these by itself: ALTER PUBLICATION is not decoded, and ALTER TABLE shows only at the table's
/// next change (a rewrite such as a volatile default shows never).
/// </summary>
internal sealed class PublicationWatcher(SourceOptions source, ReplicationOptions options, ReplicationStatus status, TableReloads reloads, ILogger log)
{
    public async Task RunAsync(SemaphoreSlim pollNow, CancellationToken ct)
    {
        if (options.PublicationPollInterval <= TimeSpan.Zero) return;
        NpgsqlConnection? conn = null;
        try
        {
            while (true)
            {
                // Whichever comes first: the interval, or a table the stream named that is not held.
                await pollNow.WaitAsync(options.PublicationPollInterval, ct).ConfigureAwait(false);
                try
                {
                    conn ??= await Preflight.OpenAsync(source, ct).ConfigureAwait(false);
                    long generation = reloads.Generation;
                    var published = await PublicationMembership.ReadAsync(conn, status.ServerVersionNum, options.Publications.ToList(), ct)
                        .ConfigureAwait(false);
                    reloads.Reconcile(published, generation);
                    status.PublicationChecked();
                }
                catch (Exception e) when (!ct.IsCancellationRequested && e is NpgsqlException or IOException or TimeoutException
                                              or System.Net.Sockets.SocketException or InvalidOperationException)
                {
                    // The replication loop notices a broken server on its own; look again next time.
                    log.LogDebug("publication check failed: {Error}", Preflight.Describe(e));
                    if (conn is not null) await conn.DisposeAsync().ConfigureAwait(false);
                    conn = null;
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested) { }
        finally
        {
            if (conn is not null) await conn.DisposeAsync().ConfigureAwait(false);
        }
    }
}
