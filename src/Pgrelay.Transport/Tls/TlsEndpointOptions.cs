using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace Pgrelay.Transport.Tls;

/// <summary>
/// TLS for one listener. The server's options are asked for at every handshake (<see cref="ServerOptions"/>), so the
/// host's certificate reloader, which hands out its current certificate set, takes effect for new connections without a
/// restart; connections already open keep theirs, as with Redis.
/// </summary>
public sealed class TlsEndpointOptions
{
    /// <summary>The options for the next handshake: certificate context, client certificate rules. Called once per connection.</summary>
    public required Func<SslServerAuthenticationOptions> ServerOptions { get; init; }

    /// <summary>
    /// Options from a certificate (asked for at every handshake) and, optionally, the CA certificates client certificates
    /// must chain to (Redis's <c>tls-ca-cert-file</c>) with <c>tls-auth-clients</c>' policy. For tests and benches; the
    /// host builds its options from its reloader's current set.
    /// </summary>
    public static TlsEndpointOptions For(Func<SslStreamCertificateContext> certificate,
        Func<X509Certificate2Collection?>? authorities = null, ClientCertificatePolicy clients = ClientCertificatePolicy.None) => new()
    {
        ServerOptions = () =>
        {
            var trusted = clients == ClientCertificatePolicy.None ? null : authorities?.Invoke();
            var options = new SslServerAuthenticationOptions
            {
                ServerCertificateContext = certificate(),
                ClientCertificateRequired = trusted is not null,
                CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            };
            if (trusted is not null) options.RemoteCertificateValidationCallback = (_, presented, _, _) => IsTrusted(presented, trusted, clients);
            return options;
        },
    };

    internal ValueTask<SslServerAuthenticationOptions> SelectOptions(SslStream stream, SslClientHelloInfo hello, object? state, CancellationToken cancellationToken) =>
        ValueTask.FromResult(ServerOptions());

    /// <summary>A client certificate is trusted when it chains to one of <paramref name="authorities"/> (only those) and is valid now.</summary>
    internal static bool IsTrusted(X509Certificate? certificate, X509Certificate2Collection authorities, ClientCertificatePolicy policy)
    {
        if (certificate is null) return policy == ClientCertificatePolicy.Optional;
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(authorities);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        var leaf = certificate as X509Certificate2 ?? new X509Certificate2(certificate);
        return chain.Build(leaf);
    }
}
