using Pgrelay.Replication.Local;

namespace Pgrelay.Testing;

public static class FreeTcpPort
{
    /// <summary>Reservations held until the test process ends: a port handed out is never handed out again meanwhile, by
    /// this process or another (see <see cref="ReservedPort"/>).</summary>
    private static readonly List<ReservedPort> Held = [];

    /// <summary>
    /// A loopback port nobody listens on right now, outside the kernel's ephemeral range and reserved for this process, so
    /// a parallel test process's bind to port 0, outgoing connection or private cluster cannot take it before the test
    /// binds it (a port from binding 0 and closing could be handed to anyone in between).
    /// </summary>
    public static int Next()
    {
        var port = ReservedPort.Next();
        lock (Held) Held.Add(port);
        return port.Number;
    }
}
