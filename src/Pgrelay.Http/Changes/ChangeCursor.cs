using System.Threading.Channels;
using Pgrelay.Core.Model;
using Pgrelay.Store.Feed;

namespace Pgrelay.Http.Changes;

internal enum CursorStepKind
{
    /// <summary>The next transaction after the position.</summary>
    Transaction,
    /// <summary>The position fell out of the feed (trimmed, or the store re-snapshotted): the client must re-read state.</summary>
    Reset,
    /// <summary>Nothing arrived within the wait: time for a heartbeat.</summary>
    Idle,
    /// <summary>The client fell a whole live queue behind: disconnect it.</summary>
    Overflowed,
}

internal readonly record struct CursorStep(CursorStepKind Kind, Lsn Position, CommittedTransaction? Transaction = null);

/// <summary>
/// One stream's position in the <see cref="ChangeFeed"/>, delivering every transaction after it exactly once.
/// It catches up by reading the feed (<see cref="ChangeFeed.TryRead"/>), and once at the newest transaction
/// switches to a push listener feeding a bounded queue, because reading the feed costs a scan of what it
/// retains. The listener is added before the last catch-up read, so nothing committed in between is
/// missed; anything delivered twice that way is dropped by LSN.
/// </summary>
internal sealed class ChangeCursor : IDisposable
{
    private readonly ChangeFeed _feed;
    private readonly Channel<CommittedTransaction> _live;
    private IDisposable? _listening;
    private Task<bool>? _pendingWait;
    private bool _catchingUp = true;
    private volatile bool _overflowed;

    public ChangeCursor(ChangeFeed feed, Lsn position, int liveQueueCapacity)
    {
        _feed = feed;
        Position = position;
        _live = Channel.CreateBounded<CommittedTransaction>(new BoundedChannelOptions(liveQueueCapacity)
        {
            SingleReader = true,
            SingleWriter = true,
            FullMode = BoundedChannelFullMode.Wait,   // TryWrite then fails instead of dropping silently
        });
    }

    /// <summary>The last transaction delivered (or the reset point): what the client resumes after.</summary>
    public Lsn Position { get; private set; }

    public async ValueTask<CursorStep> NextAsync(TimeSpan idleAfter, CancellationToken cancellation)
    {
        while (true)
        {
            if (_catchingUp)
            {
                switch (_feed.TryRead(Position, out var transaction))
                {
                    case FeedRead.Transaction:
                        Position = transaction!.CommitLsn;
                        return new(CursorStepKind.Transaction, Position, transaction);
                    case FeedRead.Lost:
                        Position = _feed.NewestLsn;
                        return new(CursorStepKind.Reset, Position);
                    default:
                        if (_listening is null)
                        {
                            _listening = _feed.Listen(Enqueue);
                            continue;   // read once more: a commit may have landed before the listener did
                        }
                        _catchingUp = false;
                        break;
                }
            }

            if (_overflowed) return new(CursorStepKind.Overflowed, Position);
            // Re-snapshots and trimming are not pushed to listeners; the feed's floor tells.
            if (_feed.OldestResumableLsn > Position)
            {
                _catchingUp = true;
                continue;
            }
            while (_live.Reader.TryRead(out var queued))
            {
                if (queued.CommitLsn <= Position) continue;
                Position = queued.CommitLsn;
                return new(CursorStepKind.Transaction, Position, queued);
            }
            if (!await WaitForQueueAsync(idleAfter, cancellation)) return new(CursorStepKind.Idle, Position);
        }
    }

    public void Dispose() => _listening?.Dispose();

    // Runs on the store's writer thread: must only enqueue, never wait.
    private void Enqueue(CommittedTransaction transaction)
    {
        if (_live.Writer.TryWrite(transaction)) return;
        _overflowed = true;
        _live.Writer.TryComplete();
    }

    /// <summary>True when the queue has something (or completed), false when <paramref name="idleAfter"/> passed first.</summary>
    private async Task<bool> WaitForQueueAsync(TimeSpan idleAfter, CancellationToken cancellation)
    {
        // One outstanding wait survives an idle timeout, so heartbeats do not pile up waiters on the channel.
        _pendingWait ??= _live.Reader.WaitToReadAsync(cancellation).AsTask();
        using var idle = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        var delay = Task.Delay(idleAfter, idle.Token);
        var first = await Task.WhenAny(_pendingWait, delay).ConfigureAwait(false);
        idle.Cancel();   // stops the timer when the queue won
        if (first != _pendingWait)
        {
            cancellation.ThrowIfCancellationRequested();
            return false;
        }
        var wait = _pendingWait;
        _pendingWait = null;
        await wait.ConfigureAwait(false);   // false means completed by overflow, which the caller checks
        return true;
    }
}
