using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace Pgrelay.Transport.Tls;

/// <summary>
/// TLS for one listener. The server certificate is asked for at every handshake through
/// <see cref="ServerCertificate"/>, so a certificate reloader (the host's) takes effect for new connections without a
/// restart; connections already open keep theirs, as with Redis.
/// </summary>
public sealed class TlsEndpointOptions
{
    /// <summary>The certificate (and its chain) to present now; called once per handshake.</summary>
    public required Func<SslStreamCertificateContext> ServerCertificate { get; init; }

    /// <summary>The CA certificates client certificates must chain to (Redis <c>tls-ca-cert-file</c>); also called per handshake.</summary>
    public Func<X509Certificate2Collection?>? ClientCertificateAuthorities { get; init; }

    public ClientCertificatePolicy ClientCertificates { get; init; } = ClientCertificatePolicy.None;

    /// <summary>The per-handshake callback <see cref="SslStream.AuthenticateAsServerAsync(ServerOptionsSelectionCallback, object?, CancellationToken)"/> takes.</summary>
    internal ValueTask<SslServerAuthenticationOptions> SelectOptions(SslStream stream, SslClientHelloInfo hello, object? state, CancellationToken cancellationToken)
    {
        var authorities = ClientCertificates == ClientCertificatePolicy.None ? null : ClientCertificateAuthorities?.Invoke();
        var options = new SslServerAuthenticationOptions
        {
            ServerCertificateContext = ServerCertificate(),
            ClientCertificateRequired = authorities is not null,
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
        };
        if (authorities is not null)
        {
            var policy = ClientCertificates;
            options.RemoteCertificateValidationCallback = (_, certificate, _, _) => IsTrusted(certificate, authorities, policy);
        }
        return ValueTask.FromResult(options);
    }

    /// <summary>A client certificate is trusted when it chains to one of <paramref name="authorities"/> and is valid now.</summary>
    internal static bool IsTrusted(X509Certificate? certificate, X509Certificate2Collection authorities, ClientCertificatePolicy policy)
    {
        if (certificate is null) return policy == ClientCertificatePolicy.Optional;
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(authorities);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.VerificationFlags = X509VerificationFlags.NoFlag;
        var leaf = certificate as X509Certificate2 ?? new X509Certificate2(certificate);
        return chain.Build(leaf);
    }
}
