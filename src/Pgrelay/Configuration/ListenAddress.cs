using System.Net;

namespace Pgrelay.Configuration;

/// <summary>A listener setting: <c>host:port</c>, <c>:port</c>, a bare port, or <c>off</c>.</summary>
public sealed record ListenAddress(IPAddress Address, int Port)
{
    public bool IsLoopback => IPAddress.IsLoopback(Address);

    public IPEndPoint EndPoint => new(Address, Port);

    public override string ToString() => Address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6
        ? $"[{Address}]:{Port}" : $"{Address}:{Port}";

    /// <summary>Parses a listener setting; null means the listener is off.</summary>
    public static ListenAddress? Parse(string setting, string? value, string defaultValue)
    {
        var text = string.IsNullOrWhiteSpace(value) ? defaultValue : value.Trim();
        if (text.Equals("off", StringComparison.OrdinalIgnoreCase) || text.Equals("false", StringComparison.OrdinalIgnoreCase))
            return null;
        string host = "127.0.0.1", port = text;
        int colon = text.LastIndexOf(':');
        if (colon >= 0)
        {
            host = text[..colon].Trim('[', ']');
            port = text[(colon + 1)..];
            if (host.Length == 0) host = "127.0.0.1";
        }
        if (!int.TryParse(port, out int number) || number is < 0 or > 65535)
            throw new SettingsException($"{setting}: '{text}' is not a listen address (host:port, :port, port or off)");
        IPAddress address;
        if (host.Equals("localhost", StringComparison.OrdinalIgnoreCase)) address = IPAddress.Loopback;
        else if (host == "*") address = IPAddress.Any;
        else if (!IPAddress.TryParse(host, out address!))
            throw new SettingsException($"{setting}: '{host}' is not an IP address (use 127.0.0.1, 0.0.0.0, ::1 or localhost)");
        return new ListenAddress(address, number);
    }
}
