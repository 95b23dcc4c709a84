using System.Buffers;
using System.Text.Json;
using Pgrelay.Core.Model;
using Pgrelay.Sinks.Events;

namespace Pgrelay.Sinks.Delivery;

/// <summary>Where a sink is: every transaction whose commit record ends at or below <see cref="EndLsn"/> has been delivered.</summary>
public readonly record struct Checkpoint(Lsn EndLsn, Lsn CommitLsn, DateTimeOffset Written);

/// <summary>
/// What a sink's checkpoint file holds: its position (null while its first load is under way) and the tables it has
/// written (null in a file of a version that did not record them).
/// </summary>
public sealed record CheckpointRecord(Checkpoint? Position, IReadOnlyList<WrittenTable>? Written)
{
    public static readonly CheckpointRecord None = new(null, null);
}

/// <summary>
/// One small JSON file per sink in the state directory (<c>&lt;sink&gt;.checkpoint</c>), replaced atomically: written to a
/// temp file, fsynced, renamed over the old one, and the directory fsynced, so a crash leaves the old or the new checkpoint,
/// never a torn one. Without a directory checkpoints live in memory only. Besides the position, the file lists the tables
/// the sink has written (<see cref="WrittenTable"/>), so that a load can clear those it no longer holds.
/// </summary>
public sealed class CheckpointStore(string? directory)
{
    private readonly Dictionary<string, CheckpointRecord> _memory = new();

    public string? Directory { get; } = directory;

    public string PathFor(string sink) => System.IO.Path.Combine(Directory!, sink + ".checkpoint");

    /// <summary>The sink's position, or null when it has none (no file, or a load that has not finished).</summary>
    public Checkpoint? Load(string sink) => Read(sink).Position;

    /// <exception cref="IOException">The file is damaged.</exception>
    public CheckpointRecord Read(string sink)
    {
        if (Directory is null) { lock (_memory) return _memory.GetValueOrDefault(sink, CheckpointRecord.None); }
        var path = PathFor(sink);
        if (!File.Exists(path)) return CheckpointRecord.None;
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
            var root = doc.RootElement;
            Checkpoint? position = root.TryGetProperty("end_lsn", out var end)
                ? new Checkpoint(Lsn.Parse(end.GetString()!), Lsn.Parse(root.GetProperty("commit_lsn").GetString()!),
                    root.TryGetProperty("written", out var w) ? w.GetDateTimeOffset() : DateTimeOffset.MinValue)
                : null;
            List<WrittenTable>? tables = null;
            if (root.TryGetProperty("tables", out var list))
            {
                tables = [];
                foreach (var t in list.EnumerateArray())
                    tables.Add(new WrittenTable(t.GetProperty("relid").GetUInt32(), t.GetProperty("schema").GetString()!,
                        t.GetProperty("name").GetString()!, [.. t.GetProperty("publications").EnumerateArray().Select(p => p.GetString()!)]));
            }
            return new CheckpointRecord(position, tables);
        }
        catch (Exception e) when (e is JsonException or FormatException or KeyNotFoundException or InvalidOperationException)
        {
            throw new IOException($"checkpoint file '{path}' is damaged ({e.Message}); delete it to reload the sink from a snapshot", e);
        }
    }

    /// <summary>Replaces the sink's file: its position (none: a load under way) and the tables it has written.</summary>
    public void Save(string sink, Checkpoint? checkpoint, IReadOnlyList<WrittenTable> written)
    {
        if (Directory is null) { lock (_memory) _memory[sink] = new CheckpointRecord(checkpoint, written); return; }
        System.IO.Directory.CreateDirectory(Directory);
        var path = PathFor(sink);
        var temp = path + ".tmp";
        var json = new ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(json))
        {
            writer.WriteStartObject();
            if (checkpoint is { } c)
            {
                writer.WriteString("end_lsn", c.EndLsn.ToString());
                writer.WriteString("commit_lsn", c.CommitLsn.ToString());
                writer.WriteString("written", c.Written.ToString("O"));
            }
            writer.WriteStartArray("tables");
            foreach (var t in written)
            {
                writer.WriteStartObject();
                writer.WriteNumber("relid", t.RelationId);
                writer.WriteString("schema", t.Schema);
                writer.WriteString("name", t.Name);
                writer.WriteStartArray("publications");
                foreach (var p in t.Publications) writer.WriteStringValue(p);
                writer.WriteEndArray();
                writer.WriteEndObject();
            }
            writer.WriteEndArray();
            writer.WriteEndObject();
        }
        using (var file = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, 4096, FileOptions.None))
        {
            file.Write(json.WrittenSpan);
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
