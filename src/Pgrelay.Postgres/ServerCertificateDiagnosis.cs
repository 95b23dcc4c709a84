using System.Buffers.Binary;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Npgsql;

namespace Pgrelay.Postgres;

/// <summary>
/// Says in one line why <c>sslmode=verify-ca</c> or <c>verify-full</c> refused a server, where Npgsql only says that
/// "the remote certificate was rejected". After such a failure it opens one more connection the way libpq does
/// (SSLRequest, then a TLS handshake that accepts anything, sends nothing and is closed at once), takes the certificate
/// the server presents, and checks it the way verify-ca/verify-full do: it must chain to a certificate in sslrootcert,
/// and for verify-full it must name the host connected to. Costs nothing unless a connection has already failed.
/// </summary>
public static class ServerCertificateDiagnosis
{
    private const int SslRequestCode = 80877103;

    /// <summary>The reason, or null when <paramref name="failure"/> is not a refused server certificate (or it cannot be told).</summary>
    public static async Task<string?> ExplainAsync(NpgsqlConnectionStringBuilder settings, Exception failure, CancellationToken ct)
    {
        if (settings.SslMode is not (SslMode.VerifyCA or SslMode.VerifyFull) || !IsCertificateRefusal(failure)) return null;
        var host = settings.Host?.Split(',')[0].Trim() ?? "localhost";
        try
        {
            using var bound = CancellationTokenSource.CreateLinkedTokenSource(ct);
            bound.CancelAfter(TimeSpan.FromSeconds(10));
            using var presented = await FetchServerCertificateAsync(host, settings.Port, bound.Token).ConfigureAwait(false);
            return presented is null ? null : Check(presented.Certificate, presented.Chain, settings, host);
        }
        catch (Exception e) when (e is SocketException or IOException or AuthenticationException or OperationCanceledException)
        {
            return null;
        }
    }

    /// <summary>Why a certificate fails verify-ca/verify-full for <paramref name="host"/>, or null when it passes.</summary>
    public static string? Check(X509Certificate2 certificate, X509Certificate2Collection presentedChain, NpgsqlConnectionStringBuilder settings, string host)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.ExtraStore.AddRange(presentedChain);
        var rootFile = settings.RootCertificate;
        if (rootFile is not null)
        {
            var roots = new X509Certificate2Collection();
            try { roots.ImportFromPemFile(rootFile); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException)
            {
                return $"sslrootcert {rootFile} cannot be read: {e.Message}";
            }
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.CustomTrustStore.AddRange(roots);
        }
        if (!chain.Build(certificate))
        {
            var status = string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation.Trim()).Where(s => s.Length > 0).Distinct());
            var authorities = rootFile is null ? "the system's trusted certificate authorities" : $"a certificate authority in sslrootcert ({rootFile})";
            return $"the server's certificate ({certificate.Subject}, issued by {certificate.Issuer}) is not signed by {authorities}" +
                   (status.Length > 0 ? $": {status}" : "");
        }
        if (settings.SslMode == SslMode.VerifyFull && !certificate.MatchesHostname(host))
            return $"the server's certificate does not name the host '{host}' (sslmode=verify-full); it names {Names(certificate)}";
        return null;
    }

    private static bool IsCertificateRefusal(Exception failure)
    {
        for (var e = failure; e is not null; e = e.InnerException)
            if (e is AuthenticationException) return true;
        return false;
    }

    private static string Names(X509Certificate2 certificate)
    {
        var names = certificate.Extensions.OfType<X509SubjectAlternativeNameExtension>()
            .SelectMany(n => n.EnumerateDnsNames().Concat(n.EnumerateIPAddresses().Select(a => a.ToString()))).ToArray();
        return names.Length > 0 ? string.Join(", ", names) : certificate.GetNameInfo(X509NameType.SimpleName, forIssuer: false);
    }

    private sealed class Presented(X509Certificate2 certificate, X509Certificate2Collection chain) : IDisposable
    {
        public X509Certificate2 Certificate { get; } = certificate;
        public X509Certificate2Collection Chain { get; } = chain;
        public void Dispose() => Certificate.Dispose();
    }

    private static async Task<Presented?> FetchServerCertificateAsync(string host, int port, CancellationToken ct)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(host, port, ct).ConfigureAwait(false);
        var stream = tcp.GetStream();
        var request = new byte[8];
        BinaryPrimitives.WriteInt32BigEndian(request, 8);
        BinaryPrimitives.WriteInt32BigEndian(request.AsSpan(4), SslRequestCode);
        await stream.WriteAsync(request, ct).ConfigureAwait(false);
        var answer = new byte[1];
        if (await stream.ReadAsync(answer, ct).ConfigureAwait(false) != 1 || answer[0] != (byte)'S') return null;   // the server does not do TLS
        X509Certificate2? seen = null;
        var chain = new X509Certificate2Collection();
        await using var tls = new SslStream(stream, leaveInnerStreamOpen: false, (_, certificate, presentedChain, _) =>
        {
            if (certificate is not null) seen = new X509Certificate2(certificate);
            if (presentedChain is not null)
                foreach (var element in presentedChain.ChainElements.Skip(1)) chain.Add(new X509Certificate2(element.Certificate));
            return false;   // seen what we came for; never go on with this connection
        });
        try
        {
            await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = host }, ct).ConfigureAwait(false);
        }
        catch (AuthenticationException) { }
        return seen is null ? null : new Presented(seen, chain);
    }
}
