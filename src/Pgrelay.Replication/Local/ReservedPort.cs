using System.Net;
using System.Net.Sockets;

namespace Pgrelay.Replication.Local;

/// <summary>
/// A loopback TCP port held across processes while this object lives: a private cluster's for its whole life (stops and
/// starts included), a test listener's until its process ends. Ports come from outside the kernel's ephemeral range, so
/// no socket bound to port 0 (another test's listener, any outgoing connection) can take one between the choice and the
/// bind; a lock file per port (<c>flock</c>, released by the kernel even after kill -9) keeps the reservations of parallel
/// test processes apart. Asking the OS for a free port and closing it left both windows open: dotnet test runs projects
/// in parallel.
/// </summary>
public sealed class ReservedPort : IDisposable
{
    private static readonly string LockDirectory = Path.Combine(Path.GetTempPath(), "pgrelay-cluster-ports");
    private readonly FileStream? _lock;

    private ReservedPort(int port, FileStream? lockFile)
    {
        Number = port;
        _lock = lockFile;
    }

    public int Number { get; }

    /// <summary>A port chosen by the caller: not reserved, used as it is.</summary>
    public static ReservedPort Given(int port) => new(port, null);

    /// <summary>A port nobody listens on now, reserved until disposed (or the process ends).</summary>
    public static ReservedPort Next()
    {
        using var candidates = Candidates().GetEnumerator();
        return Reserve(candidates);
    }

    /// <summary>The next candidate whose lock no other cluster holds (the candidates go on where the last call stopped).</summary>
    public static ReservedPort Reserve(IEnumerator<int> candidates)
    {
        Directory.CreateDirectory(LockDirectory);
        for (int tried = 0; tried < 1000 && candidates.MoveNext(); tried++)
        {
            int port = candidates.Current;
            FileStream? lockFile = null;
            try
            {
                // FileShare.None is an exclusive flock on Unix: another process's open fails while this one lives.
                lockFile = new FileStream(Path.Combine(LockDirectory, $"{port}.lock"), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException) { continue; }
            catch (UnauthorizedAccessException) { continue; }
            return new ReservedPort(port, lockFile);
        }
        throw new InvalidOperationException("no free port for a private PostgreSQL cluster among the candidates");
    }

    /// <summary>Random ports outside the ephemeral range (<c>/proc/sys/net/ipv4/ip_local_port_range</c>) that nobody listens
    /// on right now. Something may still bind one before the postmaster does: the cluster then moves on.</summary>
    public static IEnumerable<int> Candidates()
    {
        var (low, high) = EphemeralRange();
        // Below the range when there is room (the usual 32768-60999 leaves 20000-32767), else above it.
        var (from, to) = low - 20000 >= 1000 ? (20000, low) : high + 1000 <= 65535 ? (high + 1, 65536) : (1024, 65536);
        for (int i = 0; i < 10_000; i++)
        {
            int port = Random.Shared.Next(from, to);
            if (CanBind(port)) yield return port;
        }
    }

    private static (int Low, int High) EphemeralRange()
    {
        try
        {
            var parts = File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range").Split((char[])['\t', ' ', '\n'], StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length == 2 && int.TryParse(parts[0], out int low) && int.TryParse(parts[1], out int high)) return (low, high);
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return (32768, 60999);
    }

    private static bool CanBind(int port)
    {
        try
        {
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            socket.Bind(new IPEndPoint(IPAddress.Loopback, port));
            return true;
        }
        catch (SocketException) { return false; }
    }

    public void Dispose() => _lock?.Dispose();
}
