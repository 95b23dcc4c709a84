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
        foreach (var (table, schema) in capture.Tables)
        {
            // Versions visible at K, counted first so the loader can size the table once.
            var versions = table.Versions(capture.Pin).ToList();
            blocks.Begin(CheckpointFormat.TableBlock);
            blocks.AppendUInt32(schema.RelationId);
            blocks.AppendUInt64((ulong)versions.Count);
            blocks.End();
            int i = 0;
            while (i < versions.Count)
            {
                ct.ThrowIfCancellationRequested();
                blocks.Begin(CheckpointFormat.RowsBlock);
                blocks.AppendUInt32(0);
                uint count = 0;
                for (; i < versions.Count && (count == 0 || blocks.PayloadLength + versions[i].Length <= CheckpointFormat.PageSize); i++, count++)
                {
                    var row = versions[i];
                    // Row-compatible shapes encode rows identically; the loader gives every row the one schema it writes.
                    var rowSchema = table.SchemaOf(row);
                    if (!ReferenceEquals(rowSchema, schema) && !rowSchema.IsRowCompatibleWith(schema))
                        throw new InvalidOperationException($"table {schema} holds rows of another shape at {capture.Lsn}");
                    blocks.AppendUInt32((uint)row.Length);
                    blocks.Append(row);
                }
                blocks.PatchUInt32(0, count);
                blocks.End();
                if (PauseAfterBlockMs > 0) Thread.Sleep(PauseAfterBlockMs);
            }
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
}
