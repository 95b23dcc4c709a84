using Pgrelay.Configuration;

namespace Pgrelay.Hosting;

/// <summary>
/// The one source of TLS material for every listener (HTTPS here; the Redis and memcached listeners take
/// <see cref="Current"/> per connection the same way). It watches the certificate, key and CA files and, when any of
/// them changes, loads and checks the new set and swaps it in with one reference write: handshakes already under way
/// finish with the old set, new connections get the new one, nothing restarts. A set that fails to load (a key that
/// does not match yet because only the certificate has been replaced, an expired certificate, a truncated file) is
/// logged and the old one stays in service.
/// </summary>
/// <remarks>
/// Files are polled (modification time and length, following symlinks) rather than watched with inotify: atomic
/// renames and the symlink swaps of mounted Kubernetes secrets are missed by directory watches, and three stat calls a
/// second cost nothing.
/// </remarks>
public sealed class TlsCertificateReloader : IHostedService, IDisposable
{
    public static readonly TimeSpan DefaultPollInterval = TimeSpan.FromSeconds(1);

    private readonly TlsFiles _files;
    private readonly ILogger _logger;
    private readonly TimeSpan _pollInterval;
    private readonly object _reloadGate = new();
    private TlsCertificates _current;
    private FileStamp[] _loadedStamps;
    private FileStamp[]? _failedStamps;
    private Timer? _timer;

    /// <summary>Loads the files once; throws <see cref="TlsCertificateException"/> when they cannot be used.</summary>
    public TlsCertificateReloader(TlsFiles files, ILogger<TlsCertificateReloader> logger, TimeSpan? pollInterval = null)
    {
        _files = files;
        _logger = logger;
        _pollInterval = pollInterval ?? DefaultPollInterval;
        _loadedStamps = Stamps();
        _current = TlsCertificates.Load(files);
    }

    /// <summary>The material for the next handshake. Read it once per connection and use that one value throughout.</summary>
    public TlsCertificates Current => Volatile.Read(ref _current);

    /// <summary>Raised after a new set is in service (for listeners that cache something derived from it).</summary>
    public event Action<TlsCertificates>? Reloaded;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _logger.LogInformation("TLS certificate {Certificate} from {File}", Current.Describe(), _files.CertificateFile);
        _timer = new Timer(_ => ReloadIfChanged(), null, _pollInterval, _pollInterval);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        _timer?.Change(Timeout.Infinite, Timeout.Infinite);
        return Task.CompletedTask;
    }

    /// <summary>Loads the files again if any changed since the last load or failed attempt; true when a new set went into service.</summary>
    public bool ReloadIfChanged()
    {
        lock (_reloadGate)   // a slow load must not overlap the next timer tick
        {
            var stamps = Stamps();
            if (Same(stamps, _loadedStamps) || (_failedStamps is { } failed && Same(stamps, failed))) return false;
            TlsCertificates loaded;
            try
            {
                loaded = TlsCertificates.Load(_files);
            }
            catch (TlsCertificateException e)
            {
                _failedStamps = stamps;   // said once per change of the files, not once a second
                _logger.LogWarning("TLS files changed but cannot be used, keeping {Certificate}: {Problem}", Current.Describe(), e.Message);
                return false;
            }
            Volatile.Write(ref _current, loaded);
            _loadedStamps = stamps;
            _failedStamps = null;
            _logger.LogInformation("TLS certificate reloaded: {Certificate}", loaded.Describe());
            Reloaded?.Invoke(loaded);
            return true;
        }
    }

    private FileStamp[] Stamps()
    {
        var paths = _files.CaCertificateFile is { } ca ? new[] { _files.CertificateFile, _files.KeyFile, ca } : [_files.CertificateFile, _files.KeyFile];
        return paths.Select(FileStamp.Of).ToArray();
    }

    private static bool Same(FileStamp[] a, FileStamp[] b) => a.AsSpan().SequenceEqual(b);

    public void Dispose() => _timer?.Dispose();

    private readonly record struct FileStamp(DateTime Modified, long Length)
    {
        public static FileStamp Of(string path)
        {
            try
            {
                var info = new FileInfo(path);
                if (info.LinkTarget is not null && info.ResolveLinkTarget(returnFinalTarget: true) is FileInfo target) info = target;
                return info.Exists ? new FileStamp(info.LastWriteTimeUtc, info.Length) : default;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                return default;
            }
        }
    }
}
