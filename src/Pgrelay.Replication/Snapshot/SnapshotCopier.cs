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
/// the snapshot with SET TRANSACTION SNAPSHOT and takes ctid page ranges from a shared queue. The same copy serves the
/// start-up snapshot (with progress in <see cref="ReplicationStatus"/>) and loads beside the running stream (without it).
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
    private readonly ISnapshotRowSink _target;
    private readonly ReplicationStatus? _status;
    private readonly ILogger _log;

    /// <param name="status">Start-up snapshot progress; null for a load beside the stream, which also keeps the garbage
    /// collector running (readers and the writer allocate meanwhile).</param>
    public SnapshotCopier(SourceOptions source, ReplicationOptions options, ISnapshotRowSink target, ReplicationStatus? status, ILogger log)
    {
        _source = source;
        _options = options;
        _target = target;
        _status = status;
        _log = log;
    }

    public async Task CopyAsync(string snapshotName, IReadOnlyList<PublishedTable> tables, CancellationToken ct)
    {
        if (_status is not null)
        {
            _status.ResetSnapshotProgress();
            _status.SnapshotTablesTotal = tables.Count;
            _status.SnapshotRowsEstimated = tables.Sum(t => Math.Max(0, t.RelTuples));
        }

        foreach (var table in tables) _target.ExpectSnapshotRows(table.Schema, table.RelTuples);
        // Biggest tables first so the tail of the copy is short ranges, not one long table.
        var ranges = tables.OrderByDescending(t => t.RelPages)
            .SelectMany(t => CopyRange.Split(t, _options.CopyRangePages)).ToList();
        var remaining = new ConcurrentDictionary<uint, int>(
            ranges.GroupBy(r => r.Table.Schema.RelationId).Select(g => KeyValuePair.Create(g.Key, g.Count())));
        var queue = new ConcurrentQueue<CopyRange>(ranges);
        int workers = Math.Max(1, Math.Min(_options.CopyParallelism, ranges.Count));
        _log.LogInformation("copying {Tables} tables ({Ranges} ranges, ~{Rows} rows) with {Workers} connections in snapshot {Snapshot}",
            tables.Count, ranges.Count, tables.Sum(t => Math.Max(0, t.RelTuples)), workers, snapshotName);

        // Rows take about twice their heap size here (text values, a row header, an array header, batch lists).
        using var noGc = _status is null ? null : NoGcWindow.TryOpen(tables.Sum(t => Math.Max(0, t.RelPages)) * 8192 * 2);
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
                    _status?.CountSnapshotRows(batch.Rows.Count);
                }
            }
            catch
            {
                failed.Cancel();
                throw;
            }
        }, CancellationToken.None);
        // Copiers are dedicated threads reading synchronously: a COPY stream arrives as one CopyData message per row,
        // and the async path cost a thread-pool hop and several async state machines per socket read (and allocations
        // the GC had to collect among the rows it keeps). A blocked reader thread costs nothing while it waits.
        var copiers = Enumerable.Range(0, workers).Select(_ => Task.Factory.StartNew(() =>
        {
            try { Work(snapshotName, queue, remaining, batches.Writer, failed.Token); }
            catch
            {
                failed.Cancel(); // one failed worker stops the others: the whole snapshot restarts
                throw;
            }
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default)).ToList();
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

    private void Work(string snapshotName, ConcurrentQueue<CopyRange> queue, ConcurrentDictionary<uint, int> remaining,
        ChannelWriter<RowBatch> batches, CancellationToken ct)
    {
        using var conn = new NpgsqlConnection(_source.ConnectionString("pgrelay-copy"));
        conn.Open();
        // Reads run without a token: Npgsql arms and resets a cancellation source on every cancellable read, which
        // is per row here and cost more than parsing the row. Cancellation asks the server to cancel the running COPY
        // (which fails the pending read), or closes the connection between copies.
        var active = new ActiveCopy(conn);
        using var cancel = ct.Register(static a => ((ActiveCopy)a!).Cancel(), active);
        try
        {
            using (var begin = new NpgsqlCommand(
                $"BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET TRANSACTION SNAPSHOT '{snapshotName.Replace("'", "''")}'", conn))
                begin.ExecuteNonQuery();
            var chunk = ArrayPool<byte>.Shared.Rent(ChunkSize);
            try
            {
                while (queue.TryDequeue(out var range))
                {
                    ct.ThrowIfCancellationRequested();
                    CopyOne(active, range, chunk, batches, ct);
                    if (remaining.AddOrUpdate(range.Table.Schema.RelationId, 0, (_, n) => n - 1) == 0)
                    {
                        _status?.CountSnapshotTableDone();
                        _log.LogDebug("copied table {Table}", range.Table.Schema);
                    }
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(chunk);
            }
            using var commit = new NpgsqlCommand("COMMIT", conn);
            commit.ExecuteNonQuery();
        }
        catch (Exception e) when (ct.IsCancellationRequested && e is not OperationCanceledException)
        {
            // Cancellation closes the connection under the read: whatever that read throws means "cancelled".
            throw new OperationCanceledException("snapshot copy cancelled", e, ct);
        }
    }

    private void CopyOne(ActiveCopy active, CopyRange range, byte[] chunk, ChannelWriter<RowBatch> batches, CancellationToken ct)
    {
        var table = range.Table.Schema;
        var parser = new CopyTextParser(table.Columns.Count);
        var batch = new List<byte[]>(_options.CopyBatchRows);
        // Npgsql's raw copy API refuses text-format COPY, and its text export decodes to UTF-16. The text export
        // reader is a StreamReader over the raw copy stream, so the bytes are read from its BaseStream directly
        // and the StreamReader's own (decoding) buffer is never used.
        using (var reader = active.Begin(range.CopyCommand()))
        {
            var stream = reader is StreamReader sr ? sr.BaseStream
                : throw new NotSupportedException("Npgsql's text export is no longer a StreamReader over the copy stream");
            int read;
            while ((read = Fill(stream, chunk)) > 0)
            {
                ct.ThrowIfCancellationRequested();
                parser.Feed(chunk.AsSpan(0, read), batch);
                if (batch.Count >= _options.CopyBatchRows)
                {
                    Send(batches, new RowBatch(table, batch), ct);
                    batch = new List<byte[]>(_options.CopyBatchRows);
                }
            }
        }
        active.End();
        parser.Finish();
        if (batch.Count > 0) Send(batches, new RowBatch(table, batch), ct);
    }

    /// <summary>
    /// Fills most of the chunk. The copy stream hands out one CopyData message (one row) per read, and those reads
    /// are served from Npgsql's buffer, so gathering many rows per parser call removes a per-row round of parser set-up.
    /// </summary>
    private static int Fill(Stream stream, byte[] chunk)
    {
        int filled = 0, read;
        while (filled < ChunkSize - MinRead && (read = stream.Read(chunk, filled, ChunkSize - filled)) > 0) filled += read;
        return filled;
    }

    /// <summary>Hands a batch to the loader, blocking this copier thread while the loader is behind.</summary>
    private static void Send(ChannelWriter<RowBatch> batches, RowBatch batch, CancellationToken ct)
    {
        while (!batches.TryWrite(batch))
            if (!batches.WaitToWriteAsync(ct).AsTask().GetAwaiter().GetResult())
                throw new InvalidOperationException("the snapshot loader stopped");
    }

    private const int MinRead = 4096;

    /// <summary>
    /// What a copier's cancellation stops. Closing the connection under a pending read works over plain TCP but not over
    /// TLS (SslStream refuses a second read while one is pending, and Close reads to drain), so a running COPY is cancelled
    /// through PostgreSQL's cancel request instead, which is safe from any thread.
    /// </summary>
    private sealed class ActiveCopy(NpgsqlConnection conn)
    {
        private volatile NpgsqlCopyTextReader? _reader;

        public TextReader Begin(string command)
        {
            var reader = conn.BeginTextExport(command);
            _reader = reader as NpgsqlCopyTextReader;
            return reader;
        }

        public void End() => _reader = null;

        public void Cancel()
        {
            try
            {
                if (_reader is { } reader) reader.Cancel();
                else conn.Close();
            }
            catch (Exception e) when (e is NpgsqlException or NotSupportedException or InvalidOperationException or ObjectDisposedException or IOException)
            {
                // Already closing or finished: the copier sees the cancellation at its next check.
            }
        }
    }

    private sealed record RowBatch(Core.Model.TableSchema Table, List<byte[]> Rows);
}
