using Pgrelay.Http.Status;

namespace Pgrelay.Hosting;

/// <summary>Adapts a protocol server's live client count to the dashboard's seam, so protocol rooms need not know HTTP.</summary>
internal sealed class ProtocolConnectionCounter(string protocol, Func<long> openConnections) : IProtocolConnectionCounter
{
    public string Protocol { get; } = protocol;

    public long OpenConnections => openConnections();
}
