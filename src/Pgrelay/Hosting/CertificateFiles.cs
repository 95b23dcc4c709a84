using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Pgrelay.Configuration;
using Pgrelay.Transport.Tls;

namespace Pgrelay.Hosting;

/// <summary>
/// The TLS certificate, key and CA files, reloaded without a restart: each handshake asks for the current
/// certificate, and at most once a second that looks at the files' modification times. A file caught half-written
/// keeps the previous certificate (and says so) until the next good read. Loaded once at construction, so a bad file
/// stops start-up with a line naming the setting.
/// </summary>
internal sealed class CertificateFiles : IDisposable
{
    private readonly TlsSettings _settings;
    private readonly ILogger _logger;
    private readonly object _gate = new();
    private SslStreamCertificateContext _context;
    private X509Certificate2Collection? _authorities;
    private DateTime _stamp;
    private long _checkedAt;

    public CertificateFiles(TlsSettings settings, ILogger logger)
    {
        _settings = settings;
        _logger = logger;
        _stamp = Stamp();
        (_context, _authorities) = Load();
        _checkedAt = Environment.TickCount64;
    }

    public TlsEndpointOptions EndpointOptions() => new()
    {
        ServerCertificate = Current,
        ClientCertificateAuthorities = () => { Current(); return _authorities; },
        ClientCertificates = _settings.CaCertFile is null ? ClientCertificatePolicy.None : _settings.AuthClients switch
        {
            "no" => ClientCertificatePolicy.None,
            "optional" => ClientCertificatePolicy.Optional,
            _ => ClientCertificatePolicy.Required,
        },
    };

    /// <summary>The certificate to present now (reloaded if its files changed).</summary>
    public SslStreamCertificateContext Current()
    {
        long now = Environment.TickCount64;
        if (now - Volatile.Read(ref _checkedAt) < 1000) return _context;
        lock (_gate)
        {
            if (now - _checkedAt < 1000) return _context;
            _checkedAt = now;
            var stamp = Stamp();
            if (stamp == _stamp) return _context;
            try
            {
                (_context, _authorities) = Load();
                _stamp = stamp;
                _logger.LogInformation("TLS certificate reloaded from {File}", _settings.CertFile);
            }
            catch (Exception e) when (e is IOException or System.Security.Cryptography.CryptographicException or InvalidOperationException)
            {
                _logger.LogWarning("TLS certificate files changed but cannot be read yet ({Message}); keeping the previous certificate", e.Message);
            }
            return _context;
        }
    }

    private DateTime Stamp()
    {
        var stamp = File.GetLastWriteTimeUtc(_settings.CertFile!);
        var key = File.GetLastWriteTimeUtc(_settings.KeyFile!);
        if (key > stamp) stamp = key;
        if (_settings.CaCertFile is { } ca && File.GetLastWriteTimeUtc(ca) is var caStamp && caStamp > stamp) stamp = caStamp;
        return stamp;
    }

    private (SslStreamCertificateContext, X509Certificate2Collection?) Load()
    {
        X509Certificate2 leaf;
        var chain = new X509Certificate2Collection();
        try
        {
            leaf = X509Certificate2.CreateFromPemFile(_settings.CertFile!, _settings.KeyFile!);
            chain.ImportFromPemFile(_settings.CertFile!);
        }
        catch (Exception e) when (e is IOException or System.Security.Cryptography.CryptographicException or ArgumentException)
        {
            throw new InvalidOperationException($"{SettingKeys.TlsCertFile}: cannot load '{_settings.CertFile}' with key '{_settings.KeyFile}': {e.Message}", e);
        }
        var intermediates = new X509Certificate2Collection();
        foreach (var c in chain)
            if (c.Thumbprint != leaf.Thumbprint) intermediates.Add(c);
        X509Certificate2Collection? authorities = null;
        if (_settings.CaCertFile is { } caFile)
        {
            authorities = new X509Certificate2Collection();
            try
            {
                authorities.ImportFromPemFile(caFile);
            }
            catch (Exception e) when (e is IOException or System.Security.Cryptography.CryptographicException or ArgumentException)
            {
                throw new InvalidOperationException($"{SettingKeys.TlsCaCertFile}: cannot load '{caFile}': {e.Message}", e);
            }
            if (authorities.Count == 0) throw new InvalidOperationException($"{SettingKeys.TlsCaCertFile}: '{caFile}' holds no certificate");
        }
        return (SslStreamCertificateContext.Create(leaf, intermediates, offline: true), authorities);
    }

    public void Dispose()
    {
    }
}
