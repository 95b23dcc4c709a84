using Microsoft.Extensions.Logging;

namespace Pgrelay.Fuzz;

/// <summary>
/// The server logs what fails outside a request (a notification, a tracking invalidation) and carries on. For the
/// fuzzer that would hide the bug, so this logger keeps the first exception logged at Warning or above; the target
/// rethrows it and afl records the input as a crash. (A request's own exception reaches the target directly: the
/// in-process driver does not catch what the event loop would log.)
/// </summary>
internal sealed class FailureLogger<T> : ILogger<T>
{
    private Exception? _failure;

    public Exception? Failure => Volatile.Read(ref _failure);

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (exception is not null && logLevel >= LogLevel.Warning) Interlocked.CompareExchange(ref _failure, exception, null);
    }
}
