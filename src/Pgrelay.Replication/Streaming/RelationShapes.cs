using Npgsql.Replication.PgOutput.Messages;
using Pgrelay.Core.Model;

namespace Pgrelay.Replication.Streaming;

/// <summary>Turns pgoutput Relation messages into <see cref="TableSchema"/> and compares shapes.</summary>
internal static class RelationShapes
{
    /// <summary>
    /// The schema a Relation message describes. The message's key flags mark the replica identity's columns, which is
    /// what they become here (<see cref="TableSchema.IdentityColumns"/>); they name the key only under REPLICA IDENTITY
    /// DEFAULT, where the identity is the primary key (so a primary key added or changed at runtime shows there). Under
    /// USING INDEX, FULL and NOTHING the message does not say what the primary key is: the known one is kept while its
    /// columns exist, else the table is keyed by all its columns. What the publications leave out stays as introspected.
    /// </summary>
    public static TableSchema FromMessage(RelationMessage m, TableSchema? known)
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
        var types = new (uint Oid, int Mod)[n];
        var identityNames = new List<string>();
        for (int i = 0; i < n; i++)
        {
            var c = m.Columns[i];
            names[i] = c.ColumnName;
            types[i] = (c.DataTypeId, c.TypeModifier);
            if ((c.Flags & RelationMessage.Column.ColumnFlags.PartOfKey) != 0) identityNames.Add(c.ColumnName);
        }
        var knownKey = known is { HasPrimaryKey: true } ? known.KeyColumns.Select(k => known.Columns[k].Name).ToList() : [];
        var key = identity == ReplicaIdentity.Default ? identityNames
            : knownKey.Count > 0 && knownKey.All(names.Contains) ? knownKey : [];
        var columns = new ColumnSchema[n];
        for (int i = 0; i < n; i++)
        {
            columns[i] = new ColumnSchema(names[i], types[i].Oid, types[i].Mod, key.Contains(names[i]));
            // How a type renders (a domain as its base type...) comes from introspection; the message has the OID only.
            if (known?.Columns.FirstOrDefault(c => c.Name == names[i] && c.TypeOid == types[i].Oid) is { } same)
                columns[i] = columns[i] with { Kind = same.Kind, ElementKind = same.ElementKind, Record = same.Record };
        }
        // pgoutput flags key columns but does not order them: keep the order introspection found.
        var keyOrder = knownKey.Count > 0 ? knownKey : null;
        return new TableSchema(m.RelationId, m.Namespace, m.RelationName, columns, identity, keyOrder, identityNames,
            known?.UnreplicatedChanges ?? ChangeActions.None);
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
        return a.KeyColumns.SequenceEqual(b.KeyColumns) && a.IdentityColumns.SequenceEqual(b.IdentityColumns);
    }
}
