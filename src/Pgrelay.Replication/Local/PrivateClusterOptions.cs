namespace Pgrelay.Replication.Local;

/// <summary>Settings for a throwaway PostgreSQL cluster (tests and <c>pgrelay demo</c>).</summary>
public sealed class PrivateClusterOptions
{
    /// <summary>Where initdb, pg_ctl and postgres live.</summary>
    public string BinDirectory { get; set; } = "/usr/lib/postgresql/15/bin";

    /// <summary>Parent of the cluster's temp folder; the system temp folder when null.</summary>
    public string? ParentDirectory { get; set; }

    /// <summary>"logical" normally; tests set "replica" to exercise the preflight check.</summary>
    public string WalLevel { get; set; } = "logical";

    /// <summary>Small values (64kB) force PostgreSQL to stream big transactions before they commit.</summary>
    public string LogicalDecodingWorkMem { get; set; } = "64MB";

    public int MaxReplicationSlots { get; set; } = 10;
    public int MaxWalSenders { get; set; } = 10;

    /// <summary>Extra postgresql.conf lines, written verbatim.</summary>
    public IList<string> ExtraSettings { get; } = new List<string>();

    /// <summary>The port to listen on; a free one when null.</summary>
    public int? Port { get; set; }

    /// <summary>Ports to try, in order, when <see cref="Port"/> is null (tests of the choice); random ones outside the kernel's
    /// ephemeral range otherwise.</summary>
    internal IEnumerable<int>? CandidatePorts { get; set; }
    public TimeSpan StartTimeout { get; set; } = TimeSpan.FromSeconds(60);
}
