using System.Diagnostics;
using Pgrelay.Core.Checkpoints;
using Pgrelay.Core.Model;
using Pgrelay.Core.Status;

namespace Pgrelay.Store.Checkpoints;

/// <summary>
/// The store's checkpoints in <c>&lt;state-dir&gt;/checkpoints</c>. One checkpoint, step by step (<see cref="WriteAsync"/>):
/// <list type="number">
/// <item>capture: pin the visible LSN K with the publications and schemas in force at it (under the write lock);</item>
/// <item>write: every version visible at K into <c>.tmp</c>, block by block, then fsync (readers and the writer go on);</item>
/// <item>wait: until every durable consumer (each sink) has acknowledged K, so that after a restart from K they all
///   resume at or after it and every event they get has its complete before image from the store;</item>
/// <item>publish: rename to <c>.ckpt</c>, fsync the directory, let the slot be confirmed up to K, delete older files.</item>
/// </list>
/// Watermarks, lowest first: the slot's confirmed position ≤ the newest valid checkpoint's K ≤ every durable consumer's
/// acknowledged position ≤ the store's visible LSN. So a restart can always stream from at or below K.
/// </summary>
public sealed class StoreCheckpoints : ICheckpointStore
{
    private static readonly TimeSpan ConsumerPoll = TimeSpan.FromMilliseconds(100);

    private readonly ReplicatedStore _store;
    private readonly CheckpointDirectory? _directory;
    private volatile CheckpointSource? _source;
    private Func<IReadOnlyDictionary<uint, string>> _tokens = () => new Dictionary<uint, string>();

    public StoreCheckpoints(ReplicatedStore store, string? stateDirectory, TimeSpan interval, CheckpointStatus status)
    {
        _store = store;
        Interval = interval;
        Status = status;
        if (stateDirectory is not null && interval > TimeSpan.Zero) _directory = new CheckpointDirectory(Path.Combine(stateDirectory, "checkpoints"));
        status.Enabled = Enabled;
        status.Interval = interval;
        status.Directory = _directory?.Path;
        if (Enabled) store.HoldSlotForCheckpoints();
    }

    public bool Enabled => _directory is not null;
    public TimeSpan Interval { get; }
    public CheckpointStatus Status { get; }

    public void SetSource(CheckpointSource source, Func<IReadOnlyDictionary<uint, string>> membershipTokens)
    {
        _tokens = membershipTokens;
        _source = source;
    }

    public CheckpointInfo? Newest(out string? problem)
    {
        problem = null;
        if (_directory is null) return null;
        _directory.RemoveTemporary();   // a write a crash interrupted never became a checkpoint
        // Only the newest: an older file outlived a newer valid one only through a failed delete, and the slot may be past it.
        var newest = _directory.Complete().FirstOrDefault();
        if (newest is null) return null;
        try
        {
            using var reader = new CheckpointReader(newest);
            return reader.ReadHeader();
        }
        catch (CheckpointUnusableException e)
        {
            problem = e.Message;
            return null;
        }
    }

    public void Load(CheckpointInfo checkpoint) => Load(checkpoint, publish: null);

    public bool Load(CheckpointInfo checkpoint, Func<bool>? publish)
    {
        var clock = Stopwatch.StartNew();
        using var reader = new CheckpointReader(checkpoint.Path);
        var header = reader.ReadHeader();
        if (header.Lsn != checkpoint.Lsn) throw new CheckpointUnusableException($"checkpoint {Path.GetFileName(checkpoint.Path)} changed while it was read");
        long loadMs = 0;
        long rows = _store.LoadCheckpoint(header.Publications, header.Lsn, (table, page) => reader.ReadPages(header.Lsn.Value, table, page),
            publish is null ? null : () =>
            {
                loadMs = clock.ElapsedMilliseconds;   // the load's own time, not the wait for the checks beside it
                return publish();
            });
        if (rows < 0) return false;
        Status.Loaded(header.Lsn, rows, publish is null ? clock.ElapsedMilliseconds : loadMs);
        Status.LastLsn = header.Lsn;
        return true;
    }

    public void Discard(string? reason)
    {
        if (reason is not null) Status.CountUseless(reason);
        _directory?.RemoveAllBut(null);
    }

    /// <summary>Writes one checkpoint (see the steps above). Returns its LSN, or null with <paramref name="skipped"/> saying why
    /// none was written now. I/O errors are thrown; the caller logs them and tries again later.</summary>
    public async Task<Lsn?> WriteAsync(CancellationToken ct)
    {
        var (lsn, skipped) = await WriteOnceAsync(ct).ConfigureAwait(false);
        LastSkipped = skipped;
        return lsn;
    }

    /// <summary>Why the last <see cref="WriteAsync"/> wrote nothing (null when it wrote a checkpoint).</summary>
    public string? LastSkipped { get; private set; }

    private async Task<(Lsn?, string?)> WriteOnceAsync(CancellationToken ct)
    {
        if (_directory is null) return (null, "checkpoints are off");
        if (_source is not { } known) return (null, "the source is not known yet");
        // Tokens as of the capture: a load beside the stream (which changes them) blocks captures until it is done, and one
        // finishing during the write makes the file useless.
        var tokens = _tokens();
        var source = known with { MembershipTokens = tokens };
        var clock = Stopwatch.StartNew();
        string? temporary = null;
        try
        {
            long bytes, versions;
            Lsn lsn;
            CheckpointCapture capture;
            using (capture = _store.CaptureCheckpoint(out var notNow)!)
            {
                if (capture is null) return (null, notNow);
                lsn = capture.Lsn;
                if (lsn <= Status.LastLsn) return (null, "nothing applied since the last checkpoint");
                Status.State = "writing";
                Status.PendingLsn = lsn;
                _directory.Create();
                temporary = _directory.TemporaryPath(lsn.Value);
                var path = temporary;
                (bytes, versions) = await Task.Run(() => CheckpointWriter.Write(path, capture, source, ct), ct).ConfigureAwait(false);
            }   // the pin goes: the file holds what it kept
            if (!SameTokens(tokens, _tokens())) return (null, "a table's publication membership changed during the write");

            Status.State = "waiting-for-consumers";
            while (_store.ConsumersFloor < lsn.Value)
                await Task.Delay(ConsumerPoll, ct).ConfigureAwait(false);

            var final = _directory.Publish(temporary, lsn.Value);
            temporary = null;
            if (!_store.CheckpointValid(capture))
            {
                File.Delete(final);
                return (null, "a fresh snapshot replaced the data meanwhile");
            }
            _directory.RemoveAllBut(final);
            Status.CountWritten(lsn, versions, bytes, clock.ElapsedMilliseconds);
            return (lsn, null);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException)
        {
            Status.CountFailure(e.Message);
            throw;
        }
        finally
        {
            if (temporary is not null) TryDelete(temporary);
            Status.State = "idle";
            Status.PendingLsn = Lsn.Zero;
        }
    }

    private static bool SameTokens(IReadOnlyDictionary<uint, string> a, IReadOnlyDictionary<uint, string> b) =>
        a.Count == b.Count && a.All(p => b.TryGetValue(p.Key, out var t) && t == p.Value);

    private static void TryDelete(string file)
    {
        try { File.Delete(file); }
        catch (IOException) { }
    }
}
