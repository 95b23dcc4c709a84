using System.Buffers;
using System.Collections.Concurrent;
using System.Threading.Channels;
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

        foreach (var table in tables) _target.ExpectSnapshotRows(table.Schema, table.RelTuples);
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
        // One loader puts every batch into the target, so the copiers never wait on (and spin for) the store's
        // write lock: they keep reading and parsing while the previous batch goes in.
        var batches = Channel.CreateBounded<RowBatch>(new BoundedChannelOptions(workers * 2) { SingleReader = true });
        var loader = Task.Run(async () =>
        {
            try
            {
                await foreach (var batch in batches.Reader.ReadAllAsync(failed.Token).ConfigureAwait(false))
                {
                    _target.LoadSnapshotRows(batch.Table, batch.Rows);
                    _status.CountSnapshotRows(batch.Rows.Count);
                }
            }
            catch
            {
                failed.Cancel();
                throw;
            }
        }, CancellationToken.None);
        var copiers = Enumerable.Range(0, workers).Select(_ => Task.Run(async () =>
        {
            try { await WorkAsync(snapshotName, queue, remaining, batches.Writer, failed.Token).ConfigureAwait(false); }
            catch
            {
                failed.Cancel(); // one failed worker stops the others: the whole snapshot restarts
                throw;
            }
        }, CancellationToken.None)).ToList();
        var tasks = copiers.Append(Task.Run(async () =>
        {
            try { await Task.WhenAll(copiers).ConfigureAwait(false); }
            finally { batches.Writer.TryComplete(); }
            await loader.ConfigureAwait(false);
        }, CancellationToken.None)).Append(loader).ToArray();
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

    private async Task WorkAsync(string snapshotName, ConcurrentQueue<CopyRange> queue, ConcurrentDictionary<uint, int> remaining,
        ChannelWriter<RowBatch> batches, CancellationToken ct)
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
                await CopyRangeAsync(conn, range, chunk, batches, ct).ConfigureAwait(false);
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

    private async Task CopyRangeAsync(NpgsqlConnection conn, CopyRange range, byte[] chunk, ChannelWriter<RowBatch> batches, CancellationToken ct)
    {
        try
        {
            await CopyRangeCoreAsync(conn, range, chunk, batches, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (ct.IsCancellationRequested && e is not OperationCanceledException)
        {
            // Cancellation closes the connection under the read (see below): whatever that read throws means "cancelled".
            throw new OperationCanceledException("snapshot copy cancelled", e, ct);
        }
    }

    private async Task CopyRangeCoreAsync(NpgsqlConnection conn, CopyRange range, byte[] chunk, ChannelWriter<RowBatch> batches, CancellationToken ct)
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
            // Reads run without a token: Npgsql arms and resets a cancellation source on every cancellable read, which
            // is per row here and cost more than parsing the row. Cancellation closes the connection instead, which
            // fails the pending read.
            await using var cancel = ct.Register(static c => ((NpgsqlConnection)c!).Close(), conn).ConfigureAwait(false);
            while ((read = await FillAsync(stream, chunk, CancellationToken.None).ConfigureAwait(false)) > 0)
            {
                ct.ThrowIfCancellationRequested();
                parser.Feed(chunk.AsSpan(0, read), batch);
                if (batch.Count >= _options.CopyBatchRows)
                {
                    await batches.WriteAsync(new RowBatch(table, batch), ct).ConfigureAwait(false);
                    batch = new List<byte[]>(_options.CopyBatchRows);
                }
            }
        }
        parser.Finish();
        if (batch.Count > 0) await batches.WriteAsync(new RowBatch(table, batch), ct).ConfigureAwait(false);
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

    private sealed record RowBatch(Core.Model.TableSchema Table, List<byte[]> Rows);
}
