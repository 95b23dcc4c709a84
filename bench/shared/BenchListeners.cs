using System.Net;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Pgrelay.Transport;
using Pgrelay.Transport.Tls;

namespace Pgrelay.Bench.Hosts;

/// <summary>
/// Listens for a bench host as `pgrelay run` does (pgrelay's transport), with knobs for comparisons:
/// BENCH_IO_THREADS (event loops; default as pgrelay: one per two cores, at most 4), BENCH_STREAMS=1 (plain connections on
/// .NET streams instead of epoll), BENCH_TLS_PORT with BENCH_TLS_CERT and BENCH_TLS_KEY (a TLS listener as well).
/// </summary>
internal sealed class BenchListeners : IAsyncDisposable
{
    private readonly List<TransportListener> _listeners = [];
    private readonly EventLoopGroup? _loops;

    public BenchListeners(int port, ISessionFactory sessions, ConnectionQuota quota, ConnectionLimits limits)
    {
        int threads = int.TryParse(Environment.GetEnvironmentVariable("BENCH_IO_THREADS"), out int t) && t > 0 ? t : EventLoopGroup.DefaultThreads;
        bool streams = Environment.GetEnvironmentVariable("BENCH_STREAMS") == "1";
        var logger = Environment.GetEnvironmentVariable("BENCH_LOG") == "1" ? new StderrLogger() : null;
        _loops = streams || !EventLoopGroup.IsSupported ? null : new EventLoopGroup(threads, logger);
        Describe = streams ? "streams" : $"epoll x{threads}";
        _listeners.Add(new TransportListener(new ListenerOptions(new IPEndPoint(IPAddress.Loopback, port)) { Limits = limits, Name = "bench" }, sessions, quota, _loops, logger));
        if (int.TryParse(Environment.GetEnvironmentVariable("BENCH_TLS_PORT"), out int tlsPort) && tlsPort > 0)
        {
            var certificate = X509Certificate2.CreateFromPemFile(Environment.GetEnvironmentVariable("BENCH_TLS_CERT")!, Environment.GetEnvironmentVariable("BENCH_TLS_KEY")!);
            var context = SslStreamCertificateContext.Create(certificate, null, offline: true);
            var tls = TlsEndpointOptions.For(() => context);
            _listeners.Add(new TransportListener(new ListenerOptions(new IPEndPoint(IPAddress.Loopback, tlsPort)) { Limits = limits, Tls = tls, Name = "bench-tls" }, sessions, quota, _loops));
            Describe += $", TLS on {tlsPort}";
        }
        foreach (var l in _listeners) l.Start();
    }

    public string Describe { get; }

    public async ValueTask DisposeAsync()
    {
        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        foreach (var l in _listeners) await l.StopAsync(bound.Token);
        _loops?.Dispose();
    }
}

/// <summary>BENCH_LOG=1: the transport's log lines on stderr (debugging a bench run).</summary>
internal sealed class StderrLogger : Microsoft.Extensions.Logging.ILogger
{
    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
    public bool IsEnabled(Microsoft.Extensions.Logging.LogLevel logLevel) => true;
    public void Log<TState>(Microsoft.Extensions.Logging.LogLevel logLevel, Microsoft.Extensions.Logging.EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
        Console.Error.WriteLine($"{logLevel}: {formatter(state, exception)} {exception}");
}
