using System.Buffers;
using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Npgsql;
using Pgrelay.Core.Changes;
using Pgrelay.Core.Status;
using Pgrelay.Replication.Connection;
using Pgrelay.Replication.Schema;

namespace Pgrelay.Replication.Snapshot;

/// <summary>
/// Copies every published table inside the slot's exported snapshot, in parallel: each connection joins
/// the snapshot with SET TRANSACTION SNAPSHOT and takes ctid page ranges from a shared queue.
/// <para>
/// Why TEXT COPY read raw: text output comes from the same type output functions pgoutput uses for
/// the stream (under the same session settings), so a snapshot value and a streamed value of the same
/// datum are byte-identical. Binary COPY would force us to re-implement every type's text output.
/// The COPY text is parsed from raw bytes (<see cref="CopyTextParser"/>), never decoded into strings.
/// </para>
/// </summary>
public sealed class SnapshotCopier
{
    private const int ChunkSize = 64 * 1024;

    private readonly SourceOptions _source;
    private readonly ReplicationOptions _options;
    private readonly IReplicationTarget _target;
    private readonly ReplicationStatus _status;
    private readonly ILogger _log;

    public SnapshotCopier(SourceOptions source, ReplicationOptions options, IReplicationTarget target, ReplicationStatus status, ILogger log)
    {
        _source = source;
        _options = options;
        _target = target;
        _status = status;
        _log = log;
    }

    public async Task CopyAsync(string snapshotName, IReadOnlyList<PublishedTable> tables, CancellationToken ct)
    {
        _status.ResetSnapshotProgress();
        _status.SnapshotTablesTotal = tables.Count;
        _status.SnapshotRowsEstimated = tables.Sum(t => Math.Max(0, t.RelTuples));

        // Biggest tables first so the tail of the copy is short ranges, not one long table.
        var ranges = tables.OrderByDescending(t => t.RelPages)
            .SelectMany(t => CopyRange.Split(t, _options.CopyRangePages)).ToList();
        var remaining = new ConcurrentDictionary<uint, int>(
            ranges.GroupBy(r => r.Table.Schema.RelationId).Select(g => KeyValuePair.Create(g.Key, g.Count())));
        var queue = new ConcurrentQueue<CopyRange>(ranges);
        int workers = Math.Max(1, Math.Min(_options.CopyParallelism, ranges.Count));
        _log.LogInformation("copying {Tables} tables ({Ranges} ranges, ~{Rows} rows) with {Workers} connections in snapshot {Snapshot}",
            tables.Count, ranges.Count, _status.SnapshotRowsEstimated, workers, snapshotName);

        using var failed = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var tasks = Enumerable.Range(0, workers).Select(_ => Task.Run(async () =>
        {
            try { await WorkAsync(snapshotName, queue, remaining, failed.Token).ConfigureAwait(false); }
            catch
            {
                failed.Cancel(); // one failed worker stops the others: the whole snapshot restarts
                throw;
            }
        }, CancellationToken.None)).ToArray();
        try
        {
            await Task.WhenAll(tasks).ConfigureAwait(false);
        }
        catch
        {
            // Prefer the root cause over the cancellations it caused in the other workers.
            var root = tasks.Where(t => t.IsFaulted).SelectMany(t => t.Exception!.InnerExceptions)
                .FirstOrDefault(e => e is not OperationCanceledException);
            if (root is not null && !ct.IsCancellationRequested) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(root);
            throw;
        }
    }

    private async Task WorkAsync(string snapshotName, ConcurrentQueue<CopyRange> queue, ConcurrentDictionary<uint, int> remaining, CancellationToken ct)
    {
        await using var conn = new NpgsqlConnection(_source.ConnectionString("pgrelay-copy"));
        await conn.OpenAsync(ct).ConfigureAwait(false);
        await using (var begin = new NpgsqlCommand(
            $"BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET TRANSACTION SNAPSHOT '{snapshotName.Replace("'", "''")}'", conn))
            await begin.ExecuteNonQueryAsync(ct).ConfigureAwait(false);

        var chunk = ArrayPool<byte>.Shared.Rent(ChunkSize);
        try
        {
            while (queue.TryDequeue(out var range))
            {
                ct.ThrowIfCancellationRequested();
                await CopyRangeAsync(conn, range, chunk, ct).ConfigureAwait(false);
                if (remaining.AddOrUpdate(range.Table.Schema.RelationId, 0, (_, n) => n - 1) == 0)
                {
                    _status.CountSnapshotTableDone();
                    _log.LogDebug("copied table {Table}", range.Table.Schema);
                }
            }
            await using var commit = new NpgsqlCommand("COMMIT", conn);
            await commit.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(chunk);
        }
    }

    private async Task CopyRangeAsync(NpgsqlConnection conn, CopyRange range, byte[] chunk, CancellationToken ct)
    {
        var table = range.Table.Schema;
        var parser = new CopyTextParser(table.Columns.Count);
        var batch = new List<byte[]>(_options.CopyBatchRows);
        // Npgsql's raw copy API refuses text-format COPY, and its text export decodes to UTF-16. The text export
        // reader is a StreamReader over the raw copy stream, so the bytes are read from its BaseStream directly
        // and the StreamReader's own (decoding) buffer is never used.
        var reader = await conn.BeginTextExportAsync(range.CopyCommand(), ct).ConfigureAwait(false);
        await using (reader.ConfigureAwait(false))
        {
            var stream = reader is StreamReader sr ? sr.BaseStream
                : throw new NotSupportedException("Npgsql's text export is no longer a StreamReader over the copy stream");
            int read;
            while ((read = await FillAsync(stream, chunk, ct).ConfigureAwait(false)) > 0)
            {
                parser.Feed(chunk.AsSpan(0, read), batch);
                if (batch.Count >= _options.CopyBatchRows)
                {
                    Deliver(table, batch);
                    batch = new List<byte[]>(_options.CopyBatchRows);
                }
            }
        }
        parser.Finish();
        if (batch.Count > 0) Deliver(table, batch);
    }

    /// <summary>
    /// Fills most of the chunk. The copy stream hands out one CopyData message (one row) per read, and those reads
    /// complete synchronously from Npgsql's buffer, so gathering many rows per parser call removes a per-row
    /// round of async and parser set-up.
    /// </summary>
    private static async ValueTask<int> FillAsync(Stream stream, byte[] chunk, CancellationToken ct)
    {
        int filled = 0;
        while (filled < ChunkSize - MinRead)
        {
            int read = await stream.ReadAsync(chunk.AsMemory(filled, ChunkSize - filled), ct).ConfigureAwait(false);
            if (read == 0) break;
            filled += read;
        }
        return filled;
    }

    private const int MinRead = 4096;

    private void Deliver(Core.Model.TableSchema table, List<byte[]> rows)
    {
        _target.LoadSnapshotRows(table, rows);
        _status.CountSnapshotRows(rows.Count);
    }
}
