using Pgrelay.Core.Model;

namespace Pgrelay.Replication.Reloads;

/// <summary>
/// The tables the store holds, each with its publication membership token, and the end LSN since which that set has not
/// changed. Kept in the state directory (file <c>held-tables</c>) so that a restart on a kept slot can tell whether
/// replaying the stream between the sinks' checkpoints and the new snapshot gives the sinks what the snapshot holds.
/// <para>It does only while membership stayed put: PostgreSQL streams nothing of a table while it is out of the
/// publications, and nothing announces ALTER PUBLICATION. Live, the publication watcher turns a change into a removal or a
/// load beside the stream, and the feed carries their effect (a truncate, the rows that differ); after a restart that
/// happened while pgrelay was down, or that the sinks had not yet received, nothing in the replay stands for it. A table
/// removed and added again while pgrelay was down would keep in every sink what it had when it left, and a table added
/// would lack the rows it had when it was added.</para>
/// </summary>
internal sealed class HeldMembership
{
    public const string StateFileName = "held-tables";

    private HeldMembership(Lsn since, IReadOnlyDictionary<uint, string> tokens)
    {
        Since = since;
        Tokens = tokens;
    }

    /// <summary>The end LSN of the transaction from which the store has held exactly these tables (or a snapshot's consistent
    /// point). A consumer at or past it has received every change of membership before it.</summary>
    public Lsn Since { get; }

    /// <summary>What makes each held table's rows what they are, by relation id (<see cref="Of(PublishedRelation)"/>).</summary>
    public IReadOnlyDictionary<uint, string> Tokens { get; }

    /// <summary>The held tables' tokens: the tables held that the membership lists (the others are not published).</summary>
    public static Dictionary<uint, string> TokensOf(IEnumerable<TableSchema> held, IReadOnlyDictionary<uint, PublishedRelation> membership) =>
        held.Where(t => membership.ContainsKey(t.RelationId)).ToDictionary(t => t.RelationId, t => Of(membership[t.RelationId]));

    /// <summary>
    /// A table's membership token, with what else changes its rows without a sign in the stream: the partitions published
    /// through it and its name (a rename with no later change). No spaces or line breaks: one line per table.
    /// </summary>
    public static string Of(PublishedRelation relation) =>
        $"{relation.Token}|{relation.Partitions}|{Uri.EscapeDataString(relation.SchemaName)}.{Uri.EscapeDataString(relation.TableName)}";

    public bool SameTables(IReadOnlyDictionary<uint, string> tokens) => Same(Tokens, tokens);

    public static bool Same(IReadOnlyDictionary<uint, string> a, IReadOnlyDictionary<uint, string> b) =>
        a.Count == b.Count && a.All(t => b.TryGetValue(t.Key, out var token) && token == t.Value);

    /// <summary>Null when there is no state directory, no record, or one that cannot be read (then nothing can be trusted).</summary>
    public static HeldMembership? Load(string? stateDirectory)
    {
        if (stateDirectory is null) return null;
        try
        {
            var file = Path.Combine(stateDirectory, StateFileName);
            if (!File.Exists(file)) return null;
            var lines = File.ReadAllLines(file);
            if (lines.Length == 0 || !Lsn.TryParse(lines[0], out var since)) return null;
            var tokens = new Dictionary<uint, string>();
            foreach (var line in lines.Skip(1).Where(l => l.Length > 0))
            {
                var parts = line.Split(' ');
                if (parts.Length != 2 || !uint.TryParse(parts[0], out var relationId)) return null;
                tokens[relationId] = parts[1];
            }
            return new HeldMembership(since, tokens);
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>Records <paramref name="tokens"/> as held since <paramref name="since"/>; written aside and renamed, so a
    /// crash leaves the old record or the new one. False when it could not be written.</summary>
    public static bool Save(string? stateDirectory, Lsn since, IReadOnlyDictionary<uint, string> tokens)
    {
        if (stateDirectory is null) return true;
        try
        {
            Directory.CreateDirectory(stateDirectory);
            var file = Path.Combine(stateDirectory, StateFileName);
            var temp = file + ".tmp";
            using (var stream = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None))
            using (var writer = new StreamWriter(stream))
            {
                writer.Write(since + "\n");
                foreach (var (relationId, token) in tokens.OrderBy(t => t.Key)) writer.Write($"{relationId} {token}\n");
                writer.Flush();
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, file, overwrite: true);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // An older record must not vouch for a replay across the change this one was to record.
            try { File.Delete(Path.Combine(stateDirectory, StateFileName)); }
            catch (Exception gone) when (gone is IOException or UnauthorizedAccessException) { }
            return false;
        }
    }
}
