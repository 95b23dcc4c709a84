using System.Runtime.InteropServices;

namespace Pgrelay.Store.Checkpoints;

/// <summary>
/// The checkpoint files in the state directory: <c>checkpoints/checkpoint-&lt;K&gt;.ckpt</c> (complete) and
/// <c>.tmp</c> (being written, or left by a crash). Making a file valid is crash-safe: fsync the file, rename it,
/// fsync the directory, so after a crash the name is either absent or names the whole file.
/// </summary>
internal sealed partial class CheckpointDirectory(string path)
{
    public string Path { get; } = path;

    public void Create() => Directory.CreateDirectory(Path);

    /// <summary>Complete checkpoint files, newest (highest LSN) first.</summary>
    public IReadOnlyList<string> Complete() => Files(CheckpointFormat.Extension).OrderByDescending(f => f.Lsn).Select(f => f.File).ToList();

    public string TemporaryPath(ulong lsn) => System.IO.Path.Combine(Path, CheckpointFormat.TemporaryName(lsn));

    /// <summary>Renames a written, fsynced temporary file to its final name and makes the rename durable.</summary>
    public string Publish(string temporaryPath, ulong lsn)
    {
        var final = System.IO.Path.Combine(Path, CheckpointFormat.FileName(lsn));
        File.Move(temporaryPath, final, overwrite: true);
        SyncDirectory(Path);
        return final;
    }

    /// <summary>Deletes every checkpoint but <paramref name="keep"/>, and every temporary file.</summary>
    public void RemoveAllBut(string? keep)
    {
        foreach (var (file, _) in Files(CheckpointFormat.Extension).Concat(Files(CheckpointFormat.TemporaryExtension)))
            if (keep is null || !string.Equals(file, keep, StringComparison.Ordinal)) TryDelete(file);
        SyncDirectory(Path);
    }

    /// <summary>Temporary files left by a write a crash interrupted: they never became checkpoints.</summary>
    public void RemoveTemporary()
    {
        foreach (var (file, _) in Files(CheckpointFormat.TemporaryExtension)) TryDelete(file);
    }

    private IEnumerable<(string File, ulong Lsn)> Files(string extension)
    {
        if (!Directory.Exists(Path)) yield break;
        foreach (var file in Directory.EnumerateFiles(Path))
            if (CheckpointFormat.LsnOf(System.IO.Path.GetFileName(file), extension) is { } lsn) yield return (file, lsn);
    }

    private static void TryDelete(string file)
    {
        try { File.Delete(file); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }

    /// <summary>fsync of a directory, so a rename in it survives a power loss (.NET has no API for it).</summary>
    private static void SyncDirectory(string directory)
    {
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS()) return;
        int fd = Native.open(directory, 0 /* O_RDONLY */);
        if (fd < 0) return;
        try { Native.fsync(fd); }
        finally { Native.close(fd); }
    }

    private static partial class Native
    {
        [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
        internal static partial int open(string path, int flags);

        [LibraryImport("libc", SetLastError = true)]
        internal static partial int fsync(int fd);

        [LibraryImport("libc")]
        internal static partial int close(int fd);
    }
}
