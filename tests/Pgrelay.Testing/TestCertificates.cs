using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Pgrelay.Testing;

/// <summary>
/// A throwaway certificate authority, a server certificate it signed (for 127.0.0.1 and localhost) and a client
/// certificate it signed, written as PEM files into a temporary directory that is removed on dispose.
/// </summary>
public sealed class TestCertificates : IDisposable
{
    private TestCertificates(string directory) => Directory = directory;

    public string Directory { get; }
    public string CaFile => Path.Combine(Directory, "ca.pem");
    public string ServerCertFile => Path.Combine(Directory, "server.pem");
    public string ServerKeyFile => Path.Combine(Directory, "server.key");
    public string ClientCertFile => Path.Combine(Directory, "client.pem");
    public string ClientKeyFile => Path.Combine(Directory, "client.key");

    public X509Certificate2 Authority { get; private set; } = null!;
    public X509Certificate2 Server { get; private set; } = null!;
    public X509Certificate2 Client { get; private set; } = null!;

    public static TestCertificates Create(string serverName = "pgrelay-test-server")
    {
        var directory = Path.Combine(Path.GetTempPath(), "pgrelay-tls-" + Guid.NewGuid().ToString("N")[..8]);
        System.IO.Directory.CreateDirectory(directory);
        var certificates = new TestCertificates(directory);
        using var caKey = RSA.Create(2048);
        var caRequest = new CertificateRequest("CN=pgrelay test CA", caKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        certificates.Authority = caRequest.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-2), DateTimeOffset.UtcNow.AddYears(2));
        File.WriteAllText(certificates.CaFile, certificates.Authority.ExportCertificatePem());
        certificates.Server = certificates.Issue(serverName, serverAuth: true, certificates.ServerCertFile, certificates.ServerKeyFile);
        certificates.Client = certificates.Issue("pgrelay test client", serverAuth: false, certificates.ClientCertFile, certificates.ClientKeyFile);
        return certificates;
    }

    /// <summary>Signs a new certificate with this CA and writes it (and its key) to the given files.</summary>
    public X509Certificate2 Issue(string commonName, bool serverAuth, string certFile, string keyFile)
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest($"CN={commonName}", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment, false));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            [new Oid(serverAuth ? "1.3.6.1.5.5.7.3.1" : "1.3.6.1.5.5.7.3.2")], false));
        if (serverAuth)
        {
            var names = new SubjectAlternativeNameBuilder();
            names.AddIpAddress(IPAddress.Loopback);
            names.AddDnsName("localhost");
            request.CertificateExtensions.Add(names.Build());
        }
        var serial = new byte[16];
        RandomNumberGenerator.Fill(serial);
        serial[0] &= 0x7f;
        using var signed = request.Create(Authority, DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(1), serial);
        var withKey = signed.CopyWithPrivateKey(key);
        File.WriteAllText(certFile, withKey.ExportCertificatePem());
        File.WriteAllText(keyFile, key.ExportPkcs8PrivateKeyPem());
        return withKey;
    }

    public void Dispose()
    {
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
