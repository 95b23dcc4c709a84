using System.Net.Security;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Pgrelay.Configuration;

namespace Pgrelay.Hosting;

/// <summary>
/// The HTTPS listener and the TLS material every TLS listener shares. HTTPS serves exactly what HTTP serves; each
/// handshake takes the reloader's current certificate context and client rules, so a replaced certificate reaches the
/// next connection without a restart.
/// </summary>
internal static class HttpsListener
{
    private static readonly List<SslApplicationProtocol> Alpn = [SslApplicationProtocol.Http2, SslApplicationProtocol.Http11];

    /// <summary>Loads the TLS files once before any port opens; a file that cannot be used is one line naming its setting.</summary>
    public static void Validate(PgrelaySettings settings)
    {
        if (settings.Tls is { } files) Load(files);
    }

    public static void AddServices(IServiceCollection services, PgrelaySettings settings)
    {
        if (settings.Tls is not { } files) return;
        services.AddSingleton(sp => Create(files, sp.GetRequiredService<ILogger<TlsCertificateReloader>>()));
        services.AddHostedService(sp => sp.GetRequiredService<TlsCertificateReloader>());
    }

    public static void Listen(KestrelServerOptions kestrel, PgrelaySettings settings)
    {
        if (settings.Https is not { } https) return;
        kestrel.Listen(https.EndPoint, listen =>
        {
            listen.Protocols = HttpProtocols.Http1AndHttp2;
            var reloader = kestrel.ApplicationServices.GetRequiredService<TlsCertificateReloader>();
            listen.UseHttps(new TlsHandshakeCallbackOptions
            {
                OnConnection = _ => ValueTask.FromResult(reloader.Current.ServerOptions(Alpn)),
            });
        });
    }

    private static TlsCertificateReloader Create(TlsFiles files, ILogger<TlsCertificateReloader> logger)
    {
        try { return new TlsCertificateReloader(files, logger); }
        catch (TlsCertificateException e) { throw new SettingsException(SettingOf(files, e) + ": " + e.Message); }
    }

    private static void Load(TlsFiles files)
    {
        try { using var _ = TlsCertificates.Load(files).Certificate; }
        catch (TlsCertificateException e) { throw new SettingsException(SettingOf(files, e) + ": " + e.Message); }
    }

    private static string SettingOf(TlsFiles files, TlsCertificateException e) =>
        e.File == files.KeyFile ? SettingKeys.TlsKeyFile : e.File == files.CaCertificateFile ? SettingKeys.TlsCaCertFile : SettingKeys.TlsCertFile;
}
