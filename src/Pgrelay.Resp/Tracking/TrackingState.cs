using Pgrelay.Resp.Commands;

namespace Pgrelay.Resp.Tracking;

/// <summary>A connection's CLIENT TRACKING settings and its CLIENT CACHING choice for the next command.</summary>
public sealed class TrackingState
{
    public bool Enabled { get; internal set; }
    public long RedirectId { get; internal set; }
    public bool Bcast { get; internal set; }
    public bool OptIn { get; internal set; }
    public bool OptOut { get; internal set; }
    public bool NoLoop { get; internal set; }
    public IReadOnlyList<byte[]> Prefixes { get; internal set; } = [];

    /// <summary>CLIENT CACHING yes (OPTIN) or no (OPTOUT), valid for the next command only.</summary>
    internal bool? CachingOverride { get; set; }

    /// <summary>Whether a read now should be remembered for invalidation (default mode, honouring OPTIN/OPTOUT).</summary>
    public bool ShouldRemember =>
        Enabled && !Bcast && (!OptIn || CachingOverride == true) && (!OptOut || CachingOverride != false);

    internal void AfterCommand(CommandDefinition command)
    {
        // CLIENT CACHING applies to the command after it; MULTI...EXEC counts as one command.
        if (CachingOverride is not null && command.Name != "client" && command.Name != "multi") CachingOverride = null;
    }

    internal void Reset()
    {
        Enabled = false;
        RedirectId = 0;
        Bcast = OptIn = OptOut = NoLoop = false;
        Prefixes = [];
        CachingOverride = null;
    }
}
