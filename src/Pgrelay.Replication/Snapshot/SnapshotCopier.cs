using System.Buffers;
using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Npgsql;
using Pgrelay.Core.Changes;
using Pgrelay.Core.Status;
using Pgrelay.Postgres.Wire;
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
    private int _directConnections, _fallbackReported;

    /// <summary>How many copy connections of the last <see cref="CopyAsync"/> framed COPY data directly (the rest used Npgsql's API).</summary>
    public int DirectConnections => Volatile.Read(ref _directConnections);

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
        _directConnections = 0;
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
        using var connections = CopyDataSource();
        // One loader puts every batch into the target, so the copiers never wait on (and spin for) the store's
        // write lock: they keep reading and parsing while the previous batch goes in. Loader and copiers are dedicated
        // threads handing batches over in a BatchQueue, never the thread pool (see BatchQueue for why).
        var batches = new BatchQueue<RowBatch>(workers * 2);
        var started = Stopwatch.GetTimestamp();
        long loading = 0;
        var loader = Task.Factory.StartNew(() =>
        {
            try
            {
                while (batches.TryTake(out var batch, failed.Token))
                {
                    long t0 = Stopwatch.GetTimestamp();
                    _target.LoadSnapshotRows(batch.Table, batch.Rows);
                    loading += Stopwatch.GetTimestamp() - t0;
                    _status?.CountSnapshotRows(batch.Rows.Count);
                }
            }
            catch
            {
                failed.Cancel();
                throw;
            }
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        // Copiers read synchronously: a COPY stream is one long burst, and the async path cost a thread-pool hop and
        // several async state machines per socket read (and allocations the GC had to collect among the rows it keeps).
        // A blocked reader thread costs nothing while it waits.
        int running = workers;
        var copiers = Enumerable.Range(0, workers).Select(_ => Task.Factory.StartNew(() =>
        {
            try { Work(connections, snapshotName, queue, remaining, batches, failed.Token); }
            catch
            {
                failed.Cancel(); // one failed worker stops the others: the whole snapshot restarts
                throw;
            }
            finally
            {
                if (Interlocked.Decrement(ref running) == 0) batches.Complete();
            }
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default)).ToList();
        var tasks = copiers.Append(loader).ToArray();
        try
        {
            await Task.WhenAll(tasks).ConfigureAwait(false);
            // Which side set the pace: a loader busy nearly all along and copiers often waiting for it mean the store's
            // loading is the bottleneck, not the network or the parsing.
            _log.LogDebug("copy took {Total:0.000}s: the loader was busy {Loading:0.000}s; copiers waited {Waits} times for the loader, " +
                          "the loader {Starved} times for rows", Stopwatch.GetElapsedTime(started).TotalSeconds,
                Stopwatch.GetElapsedTime(0, loading).TotalSeconds, batches.AddWaits, batches.TakeWaits);
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

    private void Work(NpgsqlDataSource connections, string snapshotName, ConcurrentQueue<CopyRange> queue,
        ConcurrentDictionary<uint, int> remaining, BatchQueue<RowBatch> batches, CancellationToken ct)
    {
        using var conn = connections.OpenConnection();
        // Reads run without a token: Npgsql arms and resets a cancellation source on every cancellable read, which
        // is per row here and cost more than parsing the row. Cancellation asks the server to cancel a COPY running
        // through Npgsql (which fails the pending read), or closes the connection: between copies, and under the direct
        // session, whose reader thread's read fails (Npgsql sees that connection idle, so its Close does not read).
        var active = new ActiveCopy(conn);
        using var cancel = ct.Register(static a => ((ActiveCopy)a!).Cancel(), active);
        try
        {
            using (var begin = new NpgsqlCommand(
                $"BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET TRANSACTION SNAPSHOT '{snapshotName.Replace("'", "''")}'", conn))
                begin.ExecuteNonQuery();
            using var session = OpenDirect(conn);
            var chunk = session is null ? ArrayPool<byte>.Shared.Rent(ChunkSize) : null;
            try
            {
                while (queue.TryDequeue(out var range))
                {
                    ct.ThrowIfCancellationRequested();
                    if (session is not null) CopyOne(session, range, batches, ct);
                    else CopyOne(active, range, chunk!, batches, ct);
                    if (remaining.AddOrUpdate(range.Table.Schema.RelationId, 0, (_, n) => n - 1) == 0)
                    {
                        _status?.CountSnapshotTableDone();
                        _log.LogDebug("copied table {Table}", range.Table.Schema);
                    }
                }
            }
            finally
            {
                if (chunk is not null) ArrayPool<byte>.Shared.Return(chunk);
            }
            if (session is not null) session.Execute("COMMIT");
            else
            {
                using var commit = new NpgsqlCommand("COMMIT", conn);
                commit.ExecuteNonQuery();
            }
        }
        catch (Exception e) when (ct.IsCancellationRequested && e is not OperationCanceledException)
        {
            // Cancellation closes the connection under the read: whatever that read throws means "cancelled".
            throw new OperationCanceledException("snapshot copy cancelled", e, ct);
        }
    }

    /// <summary>
    /// Where the copy connections come from. They never use Npgsql's keepalive: its timer would talk on a connection the
    /// direct reader owns. And they skip Npgsql's type loading (a catalog query on the first connection of each data
    /// source, 10–40 ms measured here): a text COPY needs no type information.
    /// </summary>
    private NpgsqlDataSource CopyDataSource()
    {
        var builder = new NpgsqlDataSourceBuilder(
            new NpgsqlConnectionStringBuilder(_source.ConnectionString("pgrelay-copy")) { KeepAlive = 0 }.ConnectionString);
        builder.ConfigureTypeLoading(types => types.EnableTypeLoading(false));
        return builder.Build();
    }

    /// <summary>The connection, taken over for direct COPY framing; null keeps Npgsql's COPY API (said once per copy).</summary>
    private CopyOutSession? OpenDirect(NpgsqlConnection conn)
    {
        if (!_options.DirectCopy) return null;
        var session = CopyOutSession.TryTakeOver(conn, out var reason);
        if (session is null)
        {
            if (Interlocked.Exchange(ref _fallbackReported, 1) == 0)
                _log.LogInformation("snapshot copy reads through Npgsql's COPY API (slower): {Reason}", reason);
            return null;
        }
        Interlocked.Increment(ref _directConnections);
        return session;
    }

    /// <summary>One range through the direct session: CopyData framed from the received bytes, rows parsed as they arrive.</summary>
    private void CopyOne(CopyOutSession session, CopyRange range, BatchQueue<RowBatch> batches, CancellationToken ct)
    {
        var rows = new RowBatcher(range.Table.Schema, _options.CopyBatchRows, batches, ct);
        session.CopyOut(range.CopyCommand(), rows);
        rows.Finish();
    }

    private void CopyOne(ActiveCopy active, CopyRange range, byte[] chunk, BatchQueue<RowBatch> batches, CancellationToken ct)
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
    private static void Send(BatchQueue<RowBatch> batches, RowBatch batch, CancellationToken ct) => batches.Add(batch, ct);

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

    /// <summary>Parses one range's COPY data as the direct session hands it over, and sends full batches to the loader.</summary>
    private sealed class RowBatcher(Core.Model.TableSchema table, int batchRows, BatchQueue<RowBatch> batches, CancellationToken ct)
        : ICopyDataSink
    {
        private readonly CopyTextParser _parser = new(table.Columns.Count);
        private List<byte[]> _batch = new(batchRows);

        public void Write(ReadOnlySpan<byte> data)
        {
            _parser.Feed(data, _batch);
            if (_batch.Count < batchRows) return;
            Send(batches, new RowBatch(table, _batch), ct);
            _batch = new List<byte[]>(batchRows);
        }

        public void Finish()
        {
            _parser.Finish();
            if (_batch.Count > 0) Send(batches, new RowBatch(table, _batch), ct);
        }
    }
}
