using System.Text.Json;
using Pgrelay.Core.Model;

namespace Pgrelay.Sinks.Delivery;

/// <summary>Where a sink is: every transaction whose commit record ends at or below <see cref="EndLsn"/> has been delivered.</summary>
public readonly record struct Checkpoint(Lsn EndLsn, Lsn CommitLsn, DateTimeOffset Written);

/// <summary>
/// One small JSON file per sink in the state directory (<c>&lt;sink&gt;.checkpoint</c>), replaced atomically: written to a
/// temp file, fsynced, renamed over the old one, and the directory fsynced, so a crash leaves the old or the new checkpoint,
/// never a torn one. Without a directory checkpoints live in memory only.
/// </summary>
public sealed class CheckpointStore(string? directory)
{
    private readonly Dictionary<string, Checkpoint> _memory = new();

    public string? Directory { get; } = directory;

    public string PathFor(string sink) => System.IO.Path.Combine(Directory!, sink + ".checkpoint");

    public Checkpoint? Load(string sink)
    {
        if (Directory is null) { lock (_memory) return _memory.TryGetValue(sink, out var c) ? c : null; }
        var path = PathFor(sink);
        if (!File.Exists(path)) return null;
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
            var root = doc.RootElement;
            return new Checkpoint(Lsn.Parse(root.GetProperty("end_lsn").GetString()!), Lsn.Parse(root.GetProperty("commit_lsn").GetString()!),
                root.TryGetProperty("written", out var w) ? w.GetDateTimeOffset() : DateTimeOffset.MinValue);
        }
        catch (Exception e) when (e is JsonException or FormatException or KeyNotFoundException or InvalidOperationException)
        {
            throw new IOException($"checkpoint file '{path}' is damaged ({e.Message}); delete it to reload the sink from a snapshot", e);
        }
    }

    public void Save(string sink, Checkpoint checkpoint)
    {
        if (Directory is null) { lock (_memory) _memory[sink] = checkpoint; return; }
        System.IO.Directory.CreateDirectory(Directory);
        var path = PathFor(sink);
        var temp = path + ".tmp";
        var json = JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, string>
        {
            ["end_lsn"] = checkpoint.EndLsn.ToString(),
            ["commit_lsn"] = checkpoint.CommitLsn.ToString(),
            ["written"] = checkpoint.Written.ToString("O"),
        });
        using (var file = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, 4096, FileOptions.None))
        {
            file.Write(json);
            file.Flush(flushToDisk: true);
        }
        File.Move(temp, path, overwrite: true);
        FsyncDirectory(Directory);
    }

    /// <summary>The lowest checkpoint among these sinks, or null when none has one (then the slot need not be kept).</summary>
    public Lsn? Oldest(IEnumerable<string> sinks)
    {
        Lsn? oldest = null;
        foreach (var sink in sinks)
            if (Load(sink) is { } c && (oldest is null || c.EndLsn < oldest)) oldest = c.EndLsn;
        return oldest;
    }

    internal static void FsyncDirectory(string directory)
    {
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS()) return;
        int fd = open(directory, 0 /* O_RDONLY */);
        if (fd < 0) return;
        try { fsync(fd); } finally { close(fd); }
    }

    [System.Runtime.InteropServices.DllImport("libc", SetLastError = true)] private static extern int open(string path, int flags);
    [System.Runtime.InteropServices.DllImport("libc", SetLastError = true)] private static extern int fsync(int fd);
    [System.Runtime.InteropServices.DllImport("libc", SetLastError = true)] private static extern int close(int fd);
}
