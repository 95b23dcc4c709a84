using Pgrelay.Core.Checkpoints;
using Pgrelay.Replication.Snapshot;

namespace Pgrelay.Replication.Checkpoints;

/// <summary>
/// Reads the newest checkpoint into the store beside the checks that decide whether it may be served (preflight,
/// <c>IDENTIFY_SYSTEM</c>, the slot, the publications' schemas now): the file's pages go into place on a thread of their
/// own, and the load then waits, with nothing visible, for <see cref="PublishAsync"/> or <see cref="AbandonAsync"/>.
/// The checks and the load took turns before (≈ 0.1 s each at 1M rows); now a restart pays the longer of the two.
/// <para>Every way out of a start-up must call one of the two: until then the loading thread holds the store's write lock.</para>
/// </summary>
internal sealed class CheckpointPreload
{
    private readonly TaskCompletionSource<bool> _decision = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Task<bool> _loading;

    private CheckpointPreload(ICheckpointStore store, CheckpointInfo checkpoint)
    {
        // A thread of its own: it blocks on the decision, and the thread pool is busy with the start-up meanwhile.
        _loading = Task.Factory.StartNew(() =>
        {
            // Every row loaded survives: collections during the load would only mark and move them (see NoGcWindow). Rows in
            // memory take about the file's bytes plus an array header each.
            using var noGc = NoGcWindow.TryOpen(File.Exists(checkpoint.Path) ? new FileInfo(checkpoint.Path).Length * 2 : 0);
            return store.Load(checkpoint, publish: () => _decision.Task.GetAwaiter().GetResult());
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
    }

    public static CheckpointPreload Start(ICheckpointStore store, CheckpointInfo checkpoint) => new(store, checkpoint);

    /// <summary>The checks passed: the loaded rows become visible at the checkpoint's LSN. Throws
    /// <see cref="CheckpointUnusableException"/> when the file turned out torn or corrupt (the store is then empty).</summary>
    public Task<bool> PublishAsync()
    {
        _decision.TrySetResult(true);
        return _loading;
    }

    /// <summary>The checkpoint may not be served (or the start-up failed): the store is left empty. Never throws.</summary>
    public async Task AbandonAsync()
    {
        _decision.TrySetResult(false);
        try { await _loading.ConfigureAwait(false); }
        catch (Exception) { }   // a fresh snapshot follows (or the start-up is failing already): the load's own failure changes nothing
    }
}
