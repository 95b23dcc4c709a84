namespace Pgrelay.Replication.Slots;

/// <summary>
/// The logical slot this instance streams from, and whether it owns it. A slot is owned by the instance that created it,
/// and only its owner drops or recreates it: an instance that dropped another's slot (they used to share a default name)
/// would make the other reattach past what its cache holds.
/// <para>The default name is unique per instance. With a state directory the name is kept there (file
/// <c>replication-slot</c>), so a restart finds its own slot again and the sinks' checkpoints resume on it: a generated
/// name is written before the slot is created (nobody else can hold a name chosen at random), an explicit name only once
/// this instance has created that slot.</para>
/// </summary>
public sealed class InstanceSlot
{
    public const string StateFileName = "replication-slot";

    private readonly string? _stateFile;
    private bool _created;

    private InstanceSlot(string name, bool isExplicit, string? stateFile)
    {
        Name = name;
        IsExplicit = isExplicit;
        _stateFile = stateFile;
    }

    public string Name { get; }

    /// <summary>Named with --slot rather than generated.</summary>
    public bool IsExplicit { get; }

    /// <summary>This instance created the slot: in this process, or in an earlier run that recorded it in the state directory.</summary>
    public bool IsOwned => _created || (_stateFile is not null && ReadState(_stateFile) == Name);

    public static InstanceSlot Resolve(string? explicitName, string database, string? stateDirectory)
    {
        var stateFile = stateDirectory is null ? null : Path.Combine(stateDirectory, StateFileName);
        if (explicitName is not null) return new InstanceSlot(explicitName, isExplicit: true, stateFile);
        if (stateFile is not null && ReadState(stateFile) is { } kept && SlotNames.IsValid(kept)) return new InstanceSlot(kept, false, stateFile);
        var slot = new InstanceSlot(SlotNames.NewFor(database), isExplicit: false, stateFile);
        if (stateFile is not null) WriteState(stateFile, slot.Name);
        return slot;
    }

    /// <summary>This instance just created the slot.</summary>
    public void Created()
    {
        _created = true;
        if (_stateFile is not null) WriteState(_stateFile, Name);
    }

    private static string? ReadState(string file)
    {
        try
        {
            return File.Exists(file) ? File.ReadAllText(file).Trim() : null;
        }
        catch (IOException)
        {
            return null;
        }
    }

    private static void WriteState(string file, string name)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(file)!);
        var temp = file + ".tmp";
        File.WriteAllText(temp, name + "\n");
        File.Move(temp, file, overwrite: true);
    }
}
