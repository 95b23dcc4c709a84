namespace Pgrelay.Transport.Epoll;

/// <summary>What an <see cref="EventLoop"/> drives: an accepted connection or a listening socket.</summary>
internal interface ILoopHandler
{
    /// <summary>epoll's data word: slot and generation, so a stale event for a reused slot is ignored.</summary>
    ulong EventData { get; }

    /// <summary>The socket is ready (loop thread).</summary>
    void OnEvents(uint events);

    /// <summary>Another thread posted work (loop thread).</summary>
    void OnPosted();

    /// <summary>The loop is ending: let go of everything (loop thread, or the loop's own shutdown).</summary>
    void Shutdown();
}
