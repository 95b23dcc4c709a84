using System.Globalization;
using Pgrelay.Sinks.Configuration;
using Pgrelay.Sinks.Events;

namespace Pgrelay.Sinks.Targets;

/// <summary>
/// JSON lines appended to a file, fsynced after every batch (a batch is then durable, which is what lets the checkpoint
/// move). Rotation: when the file passed <c>max-size</c> or was opened more than <c>max-age</c> ago, it is renamed to
/// <c>name-yyyyMMddTHHmmssfffZ.ext</c> and a new file is started; a batch is never split across two files. A batch is
/// written in pieces of at most <paramref name="batchBytes"/> (<see cref="JsonDocuments"/>), fsynced once at its end.
/// </summary>
public sealed class FileTarget(string path, long maxBytes, TimeSpan maxAge, TimeProvider? clock = null, long batchBytes = SinkDefinition.DefaultBatchBytes)
    : ISinkTarget
{
    private readonly TimeProvider _clock = clock ?? TimeProvider.System;
    private readonly JsonDocuments _lines = new(batchBytes, asArray: false);
    private FileStream? _file;
    private DateTimeOffset _opened;

    public string Path { get; } = System.IO.Path.GetFullPath(path);

    public Task OpenAsync(CancellationToken ct)
    {
        _file?.Dispose();
        var directory = System.IO.Path.GetDirectoryName(Path)!;
        Directory.CreateDirectory(directory);
        // Append: a retried batch after a failure may repeat lines, never lose them (at-least-once).
        _file = new FileStream(Path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.Read, 1 << 16);
        DropTornLine(_file);
        _file.Seek(0, SeekOrigin.End);
        _opened = _clock.GetUtcNow();
        return Task.CompletedTask;
    }

    /// <summary>
    /// A crash in the middle of a write (kill -9, power loss) can leave a last line without its end; the next line would
    /// be appended to it, and a consumer could read neither. That line's batch never reached its checkpoint, so it is
    /// delivered again: the torn part is cut off.
    /// </summary>
    private static void DropTornLine(FileStream file)
    {
        long length = file.Length, end = length;
        var buffer = new byte[4096];
        while (end > 0)
        {
            int n = (int)Math.Min(buffer.Length, end);
            file.Seek(end - n, SeekOrigin.Begin);
            file.ReadExactly(buffer, 0, n);
            int newline = Array.LastIndexOf(buffer, (byte)'\n', n - 1, n);
            if (newline >= 0)
            {
                end = end - n + newline + 1;
                break;
            }
            end -= n;
        }
        if (end == length) return;
        file.SetLength(end);
        file.Flush(flushToDisk: true);
    }

    public async Task DeliverAsync(SinkBatch batch, CancellationToken ct)
    {
        if (batch.Events.Count == 0) return;
        if (_file is null) await OpenAsync(ct).ConfigureAwait(false);
        if (ShouldRotate()) await RotateAsync(ct).ConfigureAwait(false);
        foreach (var piece in _lines.Render(batch.Events))
            await _file!.WriteAsync(piece.Bytes, ct).ConfigureAwait(false);
        _file!.Flush(flushToDisk: true);
    }

    private bool ShouldRotate() =>
        _file!.Length > 0 && ((maxBytes > 0 && _file.Length >= maxBytes) || (maxAge > TimeSpan.Zero && _clock.GetUtcNow() - _opened >= maxAge));

    private async Task RotateAsync(CancellationToken ct)
    {
        _file!.Flush(flushToDisk: true);
        await _file.DisposeAsync().ConfigureAwait(false);
        _file = null;
        var stamp = _clock.GetUtcNow().UtcDateTime.ToString("yyyyMMdd'T'HHmmssfff'Z'", CultureInfo.InvariantCulture);
        var directory = System.IO.Path.GetDirectoryName(Path)!;
        var name = System.IO.Path.GetFileNameWithoutExtension(Path);
        var extension = System.IO.Path.GetExtension(Path);
        var rotated = System.IO.Path.Combine(directory, $"{name}-{stamp}{extension}");
        for (int n = 2; File.Exists(rotated); n++) rotated = System.IO.Path.Combine(directory, $"{name}-{stamp}-{n}{extension}");
        File.Move(Path, rotated);
        Delivery.CheckpointStore.FsyncDirectory(directory);
        await OpenAsync(ct).ConfigureAwait(false);
    }

    public ValueTask DisposeAsync()
    {
        _file?.Dispose();
        _file = null;
        return ValueTask.CompletedTask;
    }
}
