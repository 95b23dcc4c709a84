using System.Text.Json;
using Pgrelay.Core.Checkpoints;
using Pgrelay.Core.Model;

namespace Pgrelay.Store.Checkpoints;

/// <summary>
/// The header block's JSON: readable with any tool, versioned by the preamble. Tables are written once and named by
/// relation id in the publications, as the store holds them.
/// </summary>
internal static class CheckpointHeaderCodec
{
    public static byte[] Encode(CheckpointSource source, ulong lsn, DateTimeOffset created, IReadOnlyList<PublicationSchema> publications)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("system_identifier", source.SystemIdentifier);
            json.WriteString("database", source.Database);
            json.WriteString("slot", source.Slot);
            json.WriteNumber("lsn", lsn);
            json.WriteString("created", created);
            json.WriteStartArray("tables");
            foreach (var table in publications.SelectMany(p => p.Tables).DistinctBy(t => t.RelationId))
            {
                json.WriteStartObject();
                json.WriteNumber("relation_id", table.RelationId);
                json.WriteString("schema", table.SchemaName);
                json.WriteString("table", table.TableName);
                json.WriteString("replica_identity", ((char)table.ReplicaIdentity).ToString());
                json.WriteNumber("unreplicated", (int)table.UnreplicatedChanges);
                if (source.MembershipTokens.TryGetValue(table.RelationId, out var token)) json.WriteString("membership", token);
                json.WriteStartArray("columns");
                foreach (var column in table.Columns)
                {
                    json.WriteStartObject();
                    json.WriteString("name", column.Name);
                    json.WriteNumber("type_oid", column.TypeOid);
                    json.WriteNumber("type_modifier", column.TypeModifier);
                    json.WriteBoolean("key", column.IsKey);
                    json.WriteNumber("kind", (int)column.Kind);   // how it renders (a domain as its base type): introspected
                    json.WriteNumber("element_kind", (int)column.ElementKind);
                    if (column.Record is not null) WriteRecord(json, column.Record);
                    json.WriteEndObject();
                }
                json.WriteEndArray();
                json.WriteStartArray("key_order");
                if (table.HasPrimaryKey) foreach (var k in table.KeyColumns) json.WriteStringValue(table.Columns[k].Name);
                json.WriteEndArray();
                json.WriteStartArray("identity");
                foreach (var i in table.IdentityColumns) json.WriteStringValue(table.Columns[i].Name);
                json.WriteEndArray();
                json.WriteEndObject();
            }
            json.WriteEndArray();
            json.WriteStartArray("publications");
            foreach (var publication in publications)
            {
                json.WriteStartObject();
                json.WriteString("name", publication.Name);
                json.WriteStartArray("tables");
                foreach (var table in publication.Tables) json.WriteNumberValue(table.RelationId);
                json.WriteEndArray();
                json.WriteEndObject();
            }
            json.WriteEndArray();
            json.WriteEndObject();
        }
        return buffer.ToArray();
    }

    /// <summary>A composite's fields, nested: how its values render is introspected, and a start from the checkpoint keeps it
    /// (the publication watcher compares it with the catalog, and loads the table again if the type changed meanwhile).</summary>
    private static void WriteRecord(Utf8JsonWriter json, RecordShape shape)
    {
        json.WriteStartArray("record");
        foreach (var field in shape.Fields)
        {
            json.WriteStartObject();
            json.WriteString("name", field.Name);
            json.WriteNumber("type_oid", field.TypeOid);
            json.WriteNumber("kind", (int)field.Kind);
            json.WriteNumber("element_kind", (int)field.ElementKind);
            if (field.Record is not null) WriteRecord(json, field.Record);
            json.WriteEndObject();
        }
        json.WriteEndArray();
    }

    private static RecordShape? ReadRecord(JsonElement owner) =>
        owner.TryGetProperty("record", out var fields)
            ? new RecordShape([.. fields.EnumerateArray().Select(f => new RecordField(f.GetProperty("name").GetString()!,
                f.GetProperty("type_oid").GetUInt32(), (PgTypeKind)f.GetProperty("kind").GetInt32(),
                (PgTypeKind)f.GetProperty("element_kind").GetInt32(), ReadRecord(f)))])
            : null;

    public static CheckpointInfo Decode(string path, ReadOnlySpan<byte> utf8)
    {
        using var document = JsonDocument.Parse(utf8.ToArray());
        var root = document.RootElement;
        var tables = new Dictionary<uint, TableSchema>();
        var tokens = new Dictionary<uint, string>();
        foreach (var t in root.GetProperty("tables").EnumerateArray())
        {
            var columns = t.GetProperty("columns").EnumerateArray()
                .Select(c =>
                {
                    var column = new ColumnSchema(c.GetProperty("name").GetString()!, c.GetProperty("type_oid").GetUInt32(),
                        c.GetProperty("type_modifier").GetInt32(), c.GetProperty("key").GetBoolean());
                    return c.TryGetProperty("kind", out var kind) && c.TryGetProperty("element_kind", out var element)
                        ? column with { Kind = (PgTypeKind)kind.GetInt32(), ElementKind = (PgTypeKind)element.GetInt32(), Record = ReadRecord(c) }
                        : column;
                })
                .ToList();
            var schema = new TableSchema(t.GetProperty("relation_id").GetUInt32(), t.GetProperty("schema").GetString()!,
                t.GetProperty("table").GetString()!, columns, (ReplicaIdentity)t.GetProperty("replica_identity").GetString()![0],
                keyOrder: [.. t.GetProperty("key_order").EnumerateArray().Select(n => n.GetString()!)],
                identityColumns: [.. t.GetProperty("identity").EnumerateArray().Select(n => n.GetString()!)],
                unreplicatedChanges: (ChangeActions)t.GetProperty("unreplicated").GetInt32());
            tables[schema.RelationId] = schema;
            if (t.TryGetProperty("membership", out var token)) tokens[schema.RelationId] = token.GetString()!;
        }
        var publications = root.GetProperty("publications").EnumerateArray()
            .Select(p => new PublicationSchema(p.GetProperty("name").GetString()!,
                [.. p.GetProperty("tables").EnumerateArray().Select(id => tables[id.GetUInt32()])]))
            .ToList();
        var source = new CheckpointSource(root.GetProperty("system_identifier").GetString()!, root.GetProperty("database").GetString()!,
            root.GetProperty("slot").GetString()!, tokens);
        return new CheckpointInfo(path, CheckpointFormat.Version, source, new Lsn(root.GetProperty("lsn").GetUInt64()),
            root.GetProperty("created").GetDateTimeOffset(), publications);
    }
}
