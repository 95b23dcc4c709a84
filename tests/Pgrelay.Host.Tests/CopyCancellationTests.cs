using Microsoft.Extensions.Logging.Abstractions;
using Pgrelay.Core.Status;
using Pgrelay.Replication;
using Pgrelay.Store;

namespace Pgrelay.Host.Tests;

/// <summary>
/// Stopping while the snapshot copy waits in a read over TLS. Cancellation closed each copier's connection under its
/// pending read; once (in a full run of the suite, TlsTests) SslStream refused that ("may not be called when another read
/// operation is pending"), the exception escaped the cancellation callback and a graceful stop failed. A running COPY is
/// now cancelled with PostgreSQL's cancel request. This test drives that path; it did not reproduce the failure on the old
/// code in three tries, so it guards the new path rather than proving the old one wrong.
/// </summary>
public sealed class CopyCancellationTests(TlsPostgres postgres) : IClassFixture<TlsPostgres>
{
    [Fact]
    public async Task Stopping_during_a_snapshot_copy_over_tls_ends_cleanly()
    {
        await postgres.Sql("postgres", "CREATE DATABASE bigcopy");
        await postgres.Sql("bigcopy", """
            CREATE TABLE big (id int PRIMARY KEY, pad text);
            INSERT INTO big SELECT g, repeat(md5(g::text), 8) FROM generate_series(1, 300000) g;
            CREATE PUBLICATION pub FOR TABLE big WHERE (md5(repeat(pad, 40)) = 'never')
            """);
        for (int attempt = 0; attempt < 3; attempt++)
        {
            var status = new ReplicationStatus();
            var options = new ReplicationOptions
            {
                Source = postgres.Cluster.UrlFor("bigcopy") + "?sslmode=require",
                Publications = ["pub"],
                CopyParallelism = 2,
                CopyRangePages = 64,
            };
            var service = new ReplicationService(options, new ReplicatedStore(), status, NullLoggerFactory.Instance);
            using var stop = new CancellationTokenSource();
            var running = Task.Run(() => service.RunAsync(stop.Token));
            // The row filter matches nothing, so the server scans for seconds while every copier waits in a read.
            await Eventually.True(() => status.Phase == ReplicationPhase.Snapshotting || running.IsCompleted, "the copy to start");
            await Task.Delay(300);
            stop.Cancel();   // threw from the copiers' cancellation callbacks before
            var ended = await Task.WhenAny(running, Task.Delay(TimeSpan.FromMinutes(2)));
            Assert.Same(running, ended);
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => running);
        }
    }
}
