namespace Pgrelay.Differential.Tests;

/// <summary>
/// What the generator may do. Each switch turns on a kind of edge that pgrelay must survive exactly; the CI run turns on
/// the ones that work today, and an engineer whose fix lands turns its switch on there. <c>PGRELAY_DIFF_SWITCHES</c>
/// (a comma list of names, <c>all</c>, or <c>default</c> plus <c>+name</c>/<c>-name</c>) overrides them for a campaign.
/// </summary>
public sealed record Switches
{
    /// <summary>Several workers' transactions interleave (always, when more than one worker).</summary>
    public int Workers { get; init; } = 3;
    /// <summary>Transactions bigger than logical_decoding_work_mem (streamed), some rolled back, some with savepoints.</summary>
    public bool BigTransactions { get; init; } = true;
    /// <summary>TRUNCATE of a published table.</summary>
    public bool Truncate { get; init; } = true;
    /// <summary>Updates that change the primary key.</summary>
    public bool KeyChanges { get; init; }
    /// <summary>Transactions open and committing while pgrelay creates its slot (issue 10 item 1, the consistent point).</summary>
    public bool StartupRaces { get; init; }
    /// <summary>ALTER TABLE: add (with and without defaults), drop, rename and retype columns (issue 10 item 4).</summary>
    public bool Ddl { get; init; }
    /// <summary>kill -9 of pgrelay in the middle of the workload, then a restart on the same state directory.</summary>
    public bool Kill9 { get; init; }
    /// <summary>A fast restart of PostgreSQL in the middle of the workload.</summary>
    public bool PostgresRestart { get; init; }
    /// <summary>Tables without a primary key (REPLICA IDENTITY FULL), with duplicate rows (issue 10 item 8).</summary>
    public bool NoPkTables { get; init; }
    /// <summary>Key parts containing '/' and the escape characters, composite keys that could collide (issue 10 item 7).</summary>
    public bool SlashKeys { get; init; }
    /// <summary>ALTER PUBLICATION ... DROP/ADD TABLE while running (issue 10 item 9).</summary>
    public bool PublicationChanges { get; init; }
    /// <summary>Dates and timestamps before Christ (JSON renders them unlike PostgreSQL's to_json; see the report).</summary>
    public bool BcDates { get; init; }
    /// <summary>Compare the postgres and file sinks too.</summary>
    public bool Sinks { get; init; } = true;

    public static Switches All => new()
    {
        KeyChanges = true, StartupRaces = true, Ddl = true, Kill9 = true, PostgresRestart = true, NoPkTables = true,
        SlashKeys = true, PublicationChanges = true, BcDates = true,
    };

    private static readonly string[] Names =
    [
        nameof(BigTransactions), nameof(Truncate), nameof(KeyChanges), nameof(StartupRaces), nameof(Ddl), nameof(Kill9),
        nameof(PostgresRestart), nameof(NoPkTables), nameof(SlashKeys), nameof(PublicationChanges), nameof(BcDates), nameof(Sinks),
    ];

    /// <summary>Applies <c>PGRELAY_DIFF_SWITCHES</c> to <paramref name="defaults"/>.</summary>
    public static Switches FromEnvironment(Switches defaults)
    {
        var text = Environment.GetEnvironmentVariable("PGRELAY_DIFF_SWITCHES");
        if (string.IsNullOrWhiteSpace(text)) return defaults;
        var result = defaults;
        foreach (var raw in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (raw.Equals("all", StringComparison.OrdinalIgnoreCase)) { result = All with { Workers = result.Workers }; continue; }
            if (raw.Equals("default", StringComparison.OrdinalIgnoreCase)) { result = defaults; continue; }
            if (raw.StartsWith("workers=", StringComparison.OrdinalIgnoreCase)) { result = result with { Workers = int.Parse(raw[8..]) }; continue; }
            bool on = !raw.StartsWith('-');
            var name = raw.TrimStart('+', '-');
            var match = Names.FirstOrDefault(n => n.Equals(name, StringComparison.OrdinalIgnoreCase))
                ?? throw new ArgumentException($"PGRELAY_DIFF_SWITCHES: unknown switch '{name}' (known: {string.Join(", ", Names)}, all, default, workers=N)");
            result = With(result, match, on);
        }
        return result;
    }

    private static Switches With(Switches s, string name, bool on) => name switch
    {
        nameof(BigTransactions) => s with { BigTransactions = on },
        nameof(Truncate) => s with { Truncate = on },
        nameof(KeyChanges) => s with { KeyChanges = on },
        nameof(StartupRaces) => s with { StartupRaces = on },
        nameof(Ddl) => s with { Ddl = on },
        nameof(Kill9) => s with { Kill9 = on },
        nameof(PostgresRestart) => s with { PostgresRestart = on },
        nameof(NoPkTables) => s with { NoPkTables = on },
        nameof(SlashKeys) => s with { SlashKeys = on },
        nameof(PublicationChanges) => s with { PublicationChanges = on },
        nameof(BcDates) => s with { BcDates = on },
        nameof(Sinks) => s with { Sinks = on },
        _ => throw new ArgumentOutOfRangeException(nameof(name)),
    };

    public override string ToString() =>
        $"workers={Workers}," + string.Join(",", Names.Where(n => (bool)GetType().GetProperty(n)!.GetValue(this)!));
}
