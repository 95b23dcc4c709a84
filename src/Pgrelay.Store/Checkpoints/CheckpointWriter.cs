using Pgrelay.Core.Checkpoints;
using Pgrelay.Core.Rows;

namespace Pgrelay.Store.Checkpoints;

/// <summary>
/// Writes the pinned state of a <see cref="CheckpointCapture"/> to a temporary file (see <see cref="CheckpointFormat"/>)
/// and fsyncs it. Readers and the writer go on meanwhile: the pin keeps every version visible at K.
/// </summary>
internal static class CheckpointWriter
{
    /// <summary>Test hook: a pause after each block, so a test can kill the process in the middle of a write.</summary>
    private static readonly int PauseAfterBlockMs =
        int.TryParse(Environment.GetEnvironmentVariable("PGRELAY_TEST_CHECKPOINT_BLOCK_PAUSE_MS"), out var ms) ? ms : 0;

    public static (long Bytes, long Versions) Write(string temporaryPath, CheckpointCapture capture, CheckpointSource source,
        CancellationToken ct)
    {
        using var file = new FileStream(temporaryPath, FileMode.Create, FileAccess.Write, FileShare.None, bufferSize: 0);
        var blocks = new BlockWriter(file);
        blocks.WritePreamble();
        ulong lsn = capture.Lsn.Value;
        blocks.Begin(CheckpointFormat.HeaderBlock);
        blocks.Append(CheckpointHeaderCodec.Encode(source, lsn, DateTimeOffset.UtcNow, capture.Publications));
        blocks.End();

        long total = 0;
        var page = new PageImage();
        foreach (var (table, schema) in capture.Tables)
        {
            // Versions visible at K, counted first so the loader can size the table once.
            var versions = table.Versions(capture.Pin).ToList();
            blocks.Begin(CheckpointFormat.TableBlock);
            blocks.AppendUInt32(schema.RelationId);
            blocks.AppendUInt64((ulong)versions.Count);
            blocks.AppendUInt64(capture.HashSeed);
            blocks.End();
            foreach (var (row, rowLsn, tag) in versions)
            {
                // Row-compatible shapes encode rows identically; the loader gives every row the one schema it writes.
                var rowSchema = table.SchemaOf(row, rowLsn);
                if (!ReferenceEquals(rowSchema, schema) && !rowSchema.IsRowCompatibleWith(schema))
                    throw new InvalidOperationException($"table {schema} holds rows of another shape at {capture.Lsn}");
                if (!page.TryAdd(row.Body, rowLsn, tag))
                {
                    ct.ThrowIfCancellationRequested();
                    WritePage(blocks, page);
                    page.TryAdd(row.Body, rowLsn, tag);
                }
            }
            if (page.Count > 0) WritePage(blocks, page);
            total += versions.Count;
        }

        blocks.Begin(CheckpointFormat.FooterBlock);
        blocks.AppendUInt64(lsn);
        blocks.AppendUInt64((ulong)total);
        blocks.AppendUInt32((uint)blocks.Blocks);
        blocks.End();
        file.Flush(flushToDisk: true);
        return (blocks.BytesWritten, total);
    }

    private static void WritePage(BlockWriter blocks, PageImage page)
    {
        blocks.Begin(CheckpointFormat.PageBlock);
        blocks.AppendUInt32((uint)page.Count);
        foreach (int tag in page.Tags) blocks.AppendUInt32((uint)tag);
        blocks.Append(page.Image);
        blocks.End();
        page.Clear();
        if (PauseAfterBlockMs > 0) Thread.Sleep(PauseAfterBlockMs);
    }
}
