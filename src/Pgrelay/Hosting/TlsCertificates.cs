using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

using Pgrelay.Configuration;

namespace Pgrelay.Hosting;

/// <summary>
/// One consistent set of TLS material loaded from <see cref="TlsFiles"/>: the server certificate with its key (and any
/// intermediates that followed it in the certificate file) and the authorities client certificates must chain to.
/// Immutable, so a reload swaps one reference and a handshake in flight keeps the set it started with.
/// </summary>
public sealed class TlsCertificates
{
    private static readonly Oid ClientAuthenticationUsage = new("1.3.6.1.5.5.7.3.2");

    private TlsCertificates(X509Certificate2 certificate, X509Certificate2Collection intermediates, X509Certificate2Collection? authorities,
        TlsClientAuthentication clientAuthentication)
    {
        Certificate = certificate;
        Authorities = authorities;
        ClientAuthentication = clientAuthentication;
        // Built once per load: the chain to send and the key handle are then shared by every handshake.
        Context = SslStreamCertificateContext.Create(certificate, intermediates, offline: true);
    }

    public X509Certificate2 Certificate { get; }
    public X509Certificate2Collection? Authorities { get; }
    public TlsClientAuthentication ClientAuthentication { get; }
    public SslStreamCertificateContext Context { get; }

    /// <summary>Loads and checks the files; any problem throws <see cref="TlsCertificateException"/> naming the file at fault.</summary>
    public static TlsCertificates Load(TlsFiles files)
    {
        X509Certificate2 certificate;
        var all = new X509Certificate2Collection();
        try
        {
            all.ImportFromPemFile(files.CertificateFile);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or CryptographicException)
        {
            throw new TlsCertificateException(files.CertificateFile, e.Message);
        }
        if (all.Count == 0) throw new TlsCertificateException(files.CertificateFile, "holds no PEM certificate");
        try
        {
            // The first certificate is the server's; its key must be the one in the key file.
            certificate = X509Certificate2.CreateFromPemFile(files.CertificateFile, files.KeyFile);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new TlsCertificateException(files.KeyFile, e.Message);
        }
        catch (ArgumentException)
        {
            throw new TlsCertificateException(files.KeyFile, $"is not the private key of {files.CertificateFile}");
        }
        catch (CryptographicException e)
        {
            throw new TlsCertificateException(files.KeyFile, $"holds no usable private key for {files.CertificateFile} ({e.Message})");
        }
        var now = DateTime.Now;
        if (certificate.NotAfter < now) throw new TlsCertificateException(files.CertificateFile, $"expired on {certificate.NotAfter:u}");
        if (certificate.NotBefore > now) throw new TlsCertificateException(files.CertificateFile, $"is not valid before {certificate.NotBefore:u}");
        var intermediates = new X509Certificate2Collection();
        for (int i = 1; i < all.Count; i++) intermediates.Add(all[i]);

        X509Certificate2Collection? authorities = null;
        if (files.CaCertificateFile is { } caFile)
        {
            authorities = new X509Certificate2Collection();
            try { authorities.ImportFromPemFile(caFile); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or CryptographicException)
            {
                throw new TlsCertificateException(caFile, e.Message);
            }
            if (authorities.Count == 0) throw new TlsCertificateException(caFile, "holds no PEM certificate");
        }
        return new TlsCertificates(certificate, intermediates, authorities, files.ClientAuthentication);
    }

    /// <summary>
    /// Accepts a client certificate that chains to one of <see cref="Authorities"/> (and only those: the system's
    /// roots do not count), is valid now, and may be used for client authentication. No certificate passes only when
    /// client authentication is optional.
    /// </summary>
    public bool AcceptsClient(X509Certificate? presented)
    {
        if (presented is null) return ClientAuthentication != TlsClientAuthentication.Yes;
        if (Authorities is null) return ClientAuthentication == TlsClientAuthentication.No;
        using var certificate = new X509Certificate2(presented);
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(Authorities);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.ApplicationPolicy.Add(ClientAuthenticationUsage);
        return chain.Build(certificate);
    }

    /// <summary>
    /// Options for one server-side handshake on a raw <see cref="SslStream"/> (the Redis and memcached listeners): this
    /// material's certificate context and client rules. Call it per connection, so a reload reaches new connections.
    /// </summary>
    public SslServerAuthenticationOptions ServerOptions(List<SslApplicationProtocol>? applicationProtocols = null) => new()
    {
        ServerCertificateContext = Context,
        ClientCertificateRequired = ClientAuthentication != TlsClientAuthentication.No,
        RemoteCertificateValidationCallback = (_, certificate, _, _) => AcceptsClient(certificate),
        CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
        ApplicationProtocols = applicationProtocols,
    };

    public string Describe() => $"{Certificate.Subject} (expires {Certificate.NotAfter:u}, SHA-256 {Certificate.GetCertHashString(HashAlgorithmName.SHA256)[..16]}…)";
}

/// <summary>A TLS file that cannot be used, and why; the message names the file.</summary>
public sealed class TlsCertificateException(string file, string problem) : Exception($"{file}: {problem}")
{
    public string File { get; } = file;
}
