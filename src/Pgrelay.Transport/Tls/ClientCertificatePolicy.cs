namespace Pgrelay.Transport.Tls;

/// <summary>Redis's <c>tls-auth-clients</c>: whether a client must present a certificate signed by the configured CA.</summary>
public enum ClientCertificatePolicy
{
    /// <summary>No client certificate is asked for.</summary>
    None,
    /// <summary>Asked for; a client without one is let in, a client with a bad one is not.</summary>
    Optional,
    /// <summary>Asked for and required (Redis's default once a CA is configured).</summary>
    Required,
}
