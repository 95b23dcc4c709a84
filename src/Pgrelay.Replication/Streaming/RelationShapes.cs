using Npgsql.Replication.PgOutput.Messages;
using Pgrelay.Core.Model;

namespace Pgrelay.Replication.Streaming;

/// <summary>Turns pgoutput Relation messages into <see cref="TableSchema"/> and compares shapes.</summary>
internal static class RelationShapes
{
    /// <summary>
    /// The schema a Relation message describes, or null when it has no usable key. Keys come from the
    /// message's key flags; for REPLICA IDENTITY FULL (every column flagged) the known key is kept when all its
    /// columns still exist, so a table with a primary key and identity FULL keeps its primary key.
    /// </summary>
    public static TableSchema? FromMessage(RelationMessage m, TableSchema? known)
    {
        var identity = m.ReplicaIdentity switch
        {
            RelationMessage.ReplicaIdentitySetting.AllColumns => ReplicaIdentity.Full,
            RelationMessage.ReplicaIdentitySetting.IndexWithIndIsReplIdent => ReplicaIdentity.Index,
            RelationMessage.ReplicaIdentitySetting.Nothing => ReplicaIdentity.Nothing,
            _ => ReplicaIdentity.Default,
        };
        int n = m.Columns.Count;
        var names = new string[n];
        var flags = new bool[n];
        var types = new (uint Oid, int Mod)[n];
        for (int i = 0; i < n; i++)
        {
            var c = m.Columns[i];
            names[i] = c.ColumnName;
            flags[i] = (c.Flags & RelationMessage.Column.ColumnFlags.PartOfKey) != 0;
            types[i] = (c.DataTypeId, c.TypeModifier);
        }
        if (identity == ReplicaIdentity.Full && known is not null && known.KeyColumns.Length > 0)
        {
            var knownKeys = known.KeyColumns.Select(k => known.Columns[k].Name).ToHashSet();
            if (knownKeys.All(names.Contains))
                for (int i = 0; i < n; i++) flags[i] = knownKeys.Contains(names[i]);
        }
        if (!flags.Any(f => f)) return null;
        var columns = new ColumnSchema[n];
        for (int i = 0; i < n; i++) columns[i] = new ColumnSchema(names[i], types[i].Oid, types[i].Mod, flags[i]);
        // pgoutput flags key columns but does not order them: keep the order introspection found.
        var keyOrder = known?.KeyColumns.Select(k => known.Columns[k].Name).ToList();
        return new TableSchema(m.RelationId, m.Namespace, m.RelationName, columns, identity, keyOrder);
    }

    public static bool SameShape(TableSchema a, TableSchema b)
    {
        if (a.SchemaName != b.SchemaName || a.TableName != b.TableName || a.ReplicaIdentity != b.ReplicaIdentity ||
            a.Columns.Count != b.Columns.Count) return false;
        for (int i = 0; i < a.Columns.Count; i++)
        {
            ColumnSchema x = a.Columns[i], y = b.Columns[i];
            if (x.Name != y.Name || x.TypeOid != y.TypeOid || x.TypeModifier != y.TypeModifier || x.IsKey != y.IsKey) return false;
        }
        return a.KeyColumns.SequenceEqual(b.KeyColumns);
    }
}
