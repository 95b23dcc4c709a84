using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Pgrelay.Testing;

/// <summary>
/// A private certificate authority made by the test itself, and PEM files it signs: server certificates (for given
/// host names and addresses) and client certificates. Files go to a temp folder that disposal removes. Keys are
/// unencrypted PKCS#8 with mode 0600, as PostgreSQL demands of its key file. <see cref="Create"/> also issues a ready
/// server certificate (127.0.0.1 and localhost) and a client certificate, for the cache listeners' TLS tests.
/// </summary>
public sealed class TestCertificates : IDisposable
{
    private const string ServerAuthentication = "1.3.6.1.5.5.7.3.1";
    private const string ClientAuthentication = "1.3.6.1.5.5.7.3.2";

    private readonly X509Certificate2 _ca;

    private TestCertificates(string directory, X509Certificate2 ca, string name)
    {
        Directory = directory;
        _ca = ca;
        CaFile = Path.Combine(directory, name + "-ca.crt");
        File.WriteAllText(CaFile, ca.ExportCertificatePem() + "\n");
    }

    public string Directory { get; }
    /// <summary>The authority's certificate (PEM), for --cacert, sslrootcert or tls-ca-cert-file.</summary>
    public string CaFile { get; }
    /// <summary>The authority itself (with its key), for a client's custom trust or a handshake's chain check.</summary>
    public X509Certificate2 Authority => _ca;

    // Set by Create only.
    public string ServerCertFile => Path.Combine(Directory, "server.crt");
    public string ServerKeyFile => Path.Combine(Directory, "server.key");
    public string ClientCertFile => Path.Combine(Directory, "client.crt");
    public string ClientKeyFile => Path.Combine(Directory, "client.key");
    public X509Certificate2 Server { get; private set; } = null!;
    public X509Certificate2 Client { get; private set; } = null!;

    public static TestCertificates CreateAuthority(string name = "pgrelay-test")
    {
        var directory = System.IO.Directory.CreateTempSubdirectory("pgrelay-certs-").FullName;
        // Readable by the postgres user, which the harness runs PostgreSQL as when tests run as root.
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute |
            UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name} CA", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        var ca = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
        return new TestCertificates(directory, ca, name);
    }

    /// <summary>An authority with a server certificate for 127.0.0.1 and localhost and a client certificate, both in files.</summary>
    public static TestCertificates Create(string serverName = "pgrelay-test-server")
    {
        var certificates = CreateAuthority();
        certificates.Server = certificates.Issue(serverName, serverAuth: true, certificates.ServerCertFile, certificates.ServerKeyFile);
        certificates.Client = certificates.Issue("pgrelay test client", serverAuth: false, certificates.ClientCertFile, certificates.ClientKeyFile);
        return certificates;
    }

    /// <summary>
    /// Signs a certificate for <paramref name="commonName"/> (a server's for 127.0.0.1 and localhost, or a client's),
    /// writes it and its key to the given files and returns it with its key.
    /// </summary>
    public X509Certificate2 Issue(string commonName, bool serverAuth, string certFile, string keyFile)
    {
        X509Extension? names = null;
        if (serverAuth)
        {
            var builder = new SubjectAlternativeNameBuilder();
            builder.AddIpAddress(IPAddress.Loopback);
            builder.AddDnsName("localhost");
            names = builder.Build();
        }
        return Issue(certFile, keyFile, $"CN={commonName}", names, serverAuth ? ServerAuthentication : ClientAuthentication);
    }

    /// <summary>A server certificate for <paramref name="dnsNames"/> and <paramref name="addresses"/>; returns (certificate file, key file).</summary>
    public (string Certificate, string Key) IssueServer(string fileName, string[] dnsNames, IPAddress[]? addresses = null, string? commonName = null)
    {
        var names = new SubjectAlternativeNameBuilder();
        foreach (var dns in dnsNames) names.AddDnsName(dns);
        foreach (var address in addresses ?? []) names.AddIpAddress(address);
        var files = FilesFor(fileName);
        using var _ = Issue(files.Certificate, files.Key, $"CN={commonName ?? dnsNames.FirstOrDefault() ?? "server"}", names.Build(), ServerAuthentication);
        return files;
    }

    /// <summary>A client certificate (client-authentication usage) whose subject is <c>CN=<paramref name="user"/></c>.</summary>
    public (string Certificate, string Key) IssueClient(string fileName, string user)
    {
        var files = FilesFor(fileName);
        using var _ = Issue(files.Certificate, files.Key, $"CN={user}", null, ClientAuthentication);
        return files;
    }

    private (string Certificate, string Key) FilesFor(string fileName) =>
        (Path.Combine(Directory, fileName + ".crt"), Path.Combine(Directory, fileName + ".key"));

    private X509Certificate2 Issue(string certificateFile, string keyFile, string subject, X509Extension? alternativeNames, string usage)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyAgreement, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(usage)], false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(_ca, true, false));
        if (alternativeNames is not null) request.CertificateExtensions.Add(alternativeNames);
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7f;
        using var signer = _ca.GetECDsaPrivateKey()!;
        using var issued = request.Create(_ca.SubjectName, X509SignatureGenerator.CreateForECDsa(signer), DateTimeOffset.UtcNow.AddDays(-1),
            DateTimeOffset.UtcNow.AddDays(30), serial);
        WriteAtomically(certificateFile, issued.ExportCertificatePem() + "\n", UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        WriteAtomically(keyFile, key.ExportPkcs8PrivateKeyPem() + "\n", UnixFileMode.UserRead | UnixFileMode.UserWrite);
        return issued.CopyWithPrivateKey(key);
    }

    /// <summary>The SHA-256 fingerprint of a certificate file, to tell which certificate a server presented.</summary>
    public static string Fingerprint(string certificateFile) =>
        X509Certificate2.CreateFromPem(File.ReadAllText(certificateFile)).GetCertHashString(HashAlgorithmName.SHA256);

    /// <summary>Hands the files to another OS user (PostgreSQL refuses a key file it does not own, or readable by others).</summary>
    public void GiveTo(string osUser, params string[] files)
    {
        foreach (var file in files)
        {
            using var chown = System.Diagnostics.Process.Start("chown", [osUser, file])!;
            chown.WaitForExit();
            if (chown.ExitCode != 0) throw new InvalidOperationException($"chown {osUser} {file} failed");
        }
    }

    /// <summary>Replaces a file the way deployment tools do: write beside it, then rename over it.</summary>
    public static void WriteAtomically(string path, string text, UnixFileMode mode)
    {
        var temporary = path + ".new";
        File.WriteAllText(temporary, text);
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(temporary, mode);
        File.Move(temporary, path, overwrite: true);
    }

    public void Dispose()
    {
        Server?.Dispose();
        Client?.Dispose();
        _ca.Dispose();
        try { System.IO.Directory.Delete(Directory, recursive: true); } catch (IOException) { }
    }
}
