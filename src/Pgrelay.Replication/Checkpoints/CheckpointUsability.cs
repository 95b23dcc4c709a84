using Pgrelay.Core.Checkpoints;
using Pgrelay.Core.Model;
using Pgrelay.Replication.Reloads;
using Pgrelay.Replication.Schema;

namespace Pgrelay.Replication.Checkpoints;

/// <summary>
/// Whether the store may start from a checkpoint at K instead of a snapshot. Two kinds of reasons against it:
/// <list type="bullet">
/// <item>the <b>data</b> is not this source's as it is now: another server (system identifier) or database, other
///   publications, a table whose schema (columns, types, modifiers, key, replica identity) changed, or a table that left a
///   publication and came back (its membership token changed: the stream sent nothing for it meanwhile), or whose row
///   filter changed (the rows it lets in or out now were never streamed);</item>
/// <item>the <b>slot</b> cannot give what followed K: missing, another slot, invalidated (<c>wal_status = lost</c>), or
///   confirmed past K (the transactions in (K, confirmed] will never be streamed again).</item>
/// </list>
/// Either falls back to a fresh snapshot. With only a slot reason the checkpoint's data is still a consistent state of this
/// source, so it is served (as old data, said so) while the fresh snapshot loads.
/// </summary>
internal static class CheckpointUsability
{
    public sealed record SlotState(Lsn? Confirmed, string? WalStatus);

    public static string? DataProblem(CheckpointInfo checkpoint, CheckpointSource now, SourceSchema schema,
        IReadOnlyDictionary<uint, PublishedRelation> membership)
    {
        string name = Path.GetFileName(checkpoint.Path);
        var then = checkpoint.Source;
        if (then.SystemIdentifier != now.SystemIdentifier)
            return $"checkpoint {name} is of another server (system identifier {then.SystemIdentifier}; the source is {now.SystemIdentifier})";
        if (then.Database != now.Database)
            return $"checkpoint {name} is of database {then.Database}; the source is {now.Database}";
        var thenPublications = checkpoint.Publications.Select(p => p.Name).Order(StringComparer.Ordinal).ToList();
        var nowPublications = schema.Publications.Select(p => p.Name).Order(StringComparer.Ordinal).ToList();
        if (!thenPublications.SequenceEqual(nowPublications))
            return $"checkpoint {name} is of publications {string.Join(", ", thenPublications)}; pgrelay replicates {string.Join(", ", nowPublications)}";
        foreach (var publication in checkpoint.Publications)
        {
            var current = schema.Publications.First(p => p.Name == publication.Name);
            var thenTables = publication.Tables.Select(t => t.RelationId).Order().ToList();
            if (!thenTables.SequenceEqual(current.Tables.Select(t => t.RelationId).Order()))
                return $"checkpoint {name}: the tables of publication {publication.Name} changed since it was written";
            foreach (var table in publication.Tables)
            {
                var table2 = current.Tables.First(t => t.RelationId == table.RelationId);
                if (!SameSchema(table, table2))
                    return $"checkpoint {name}: the schema of table {table2} changed since it was written";
                if (!then.MembershipTokens.TryGetValue(table.RelationId, out var token) ||
                    !membership.TryGetValue(table.RelationId, out var relation))
                    return $"checkpoint {name}: table {table2} left its publication and came back since it was written";
                // ALTER PUBLICATION … SET TABLE … WHERE replaces the table's pg_publication_rel row, so a new filter comes
                // with a new membership token too: the filter is compared first, to name the reason.
                var (thenMembership, thenFilter) = PublishedRelation.SplitCheckpointToken(token);
                if (thenFilter != relation.RowFilter)
                    return $"checkpoint {name}: the row filter of table {table2} changed since it was written (rows it lets in or out were not streamed)";
                if (thenMembership != relation.Token)
                    return $"checkpoint {name}: table {table2} left its publication and came back since it was written";
            }
        }
        return null;
    }

    public static string? SlotProblem(CheckpointInfo checkpoint, string slot, SlotState? state)
    {
        string name = Path.GetFileName(checkpoint.Path);
        if (checkpoint.Source.Slot != slot)
            return $"checkpoint {name} resumes slot {checkpoint.Source.Slot}; this instance's slot is {slot}";
        if (state is null) return $"checkpoint {name} resumes slot {slot}, which no longer exists";
        if (state.WalStatus == "lost") return $"checkpoint {name} resumes slot {slot}, which was invalidated (wal_status lost): the server removed WAL it needed";
        if (state.Confirmed is not { } confirmed) return $"checkpoint {name} resumes slot {slot}, which is not a logical slot of this database";
        if (confirmed > checkpoint.Lsn)
            return $"checkpoint {name} is at {checkpoint.Lsn}, but slot {slot} is confirmed at {confirmed}: the transactions in between are lost to it";
        return null;
    }

    /// <summary>A sink whose own checkpoint is older than K (its file restored from a backup, say) needs transactions the
    /// store would skip as contained: the start-up that replays them to it (a kept slot below a new snapshot) is taken.</summary>
    public static string? SinkProblem(CheckpointInfo checkpoint, Lsn? oldestSinkCheckpoint) =>
        oldestSinkCheckpoint is { } sink && sink < checkpoint.Lsn
            ? $"checkpoint {Path.GetFileName(checkpoint.Path)} is at {checkpoint.Lsn}, past a sink's checkpoint at {sink}: that sink needs what lies between"
            : null;

    private static bool SameSchema(TableSchema a, TableSchema b) =>
        a.SchemaName == b.SchemaName && a.TableName == b.TableName && a.IsRowCompatibleWith(b) && a.ReplicaIdentity == b.ReplicaIdentity &&
        a.IdentityColumns.AsSpan().SequenceEqual(b.IdentityColumns) && a.UnreplicatedChanges == b.UnreplicatedChanges &&
        a.Columns.Select(c => c.IsKey).SequenceEqual(b.Columns.Select(c => c.IsKey));
}
