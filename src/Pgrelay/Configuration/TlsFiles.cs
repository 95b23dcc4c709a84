namespace Pgrelay.Configuration;

/// <summary>Redis's tls-auth-clients: whether a TLS client must (yes), may (optional) or need not (no) present a certificate.</summary>
public enum TlsClientAuthentication { No, Optional, Yes }

/// <summary>Where the TLS files are (tls-cert-file, tls-key-file, tls-ca-cert-file) and tls-auth-clients: shared by every TLS listener.</summary>
public sealed record TlsFiles(string CertificateFile, string KeyFile, string? CaCertificateFile, TlsClientAuthentication ClientAuthentication);
