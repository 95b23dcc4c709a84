using Pgrelay.Core.Rendering;
using Pgrelay.Resp.Keyspace;
using Pgrelay.Resp.Protocol;
using Pgrelay.Resp.Server;

namespace Pgrelay.Resp.Commands;

/// <summary>Hash reads: each row is a hash at <c>publication.table.key</c>. A missing key reads as an empty hash.</summary>
internal static class HashCommands
{
    public static void HGetAll(RespSession session, RespRequest request, RespWriter writer)
    {
        if (session.TryReadRow(request[1], out var row)) RowReplies.WriteHash(row, writer);
        else writer.WriteMapHeader(0);
    }

    public static void HGet(RespSession session, RespRequest request, RespWriter writer)
    {
        if (session.TryReadRow(request[1], out var row) && RowReplies.ColumnOf(row, request[2]) is var c && RowReplies.HasField(row, c))
            writer.WriteBulk(row.View.Value(c));
        else
            writer.WriteNull();
    }

    public static void HMGet(RespSession session, RespRequest request, RespWriter writer)
    {
        bool found = session.TryReadRow(request[1], out var row);
        writer.WriteArrayHeader(request.Count - 2);
        for (int i = 2; i < request.Count; i++)
        {
            if (found && RowReplies.ColumnOf(row, request[i]) is var c && RowReplies.HasField(row, c)) writer.WriteBulk(row.View.Value(c));
            else writer.WriteNull();
        }
    }

    public static void HExists(RespSession session, RespRequest request, RespWriter writer)
    {
        bool exists = session.TryReadRow(request[1], out var row) && RowReplies.HasField(row, RowReplies.ColumnOf(row, request[2]));
        writer.WriteInteger(exists ? 1 : 0);
    }

    public static void HKeys(RespSession session, RespRequest request, RespWriter writer)
    {
        if (session.TryReadRow(request[1], out var row)) RowReplies.WriteFieldsOrValues(row, writer, names: true);
        else writer.WriteArrayHeader(0);
    }

    public static void HVals(RespSession session, RespRequest request, RespWriter writer)
    {
        if (session.TryReadRow(request[1], out var row)) RowReplies.WriteFieldsOrValues(row, writer, names: false);
        else writer.WriteArrayHeader(0);
    }

    public static void HLen(RespSession session, RespRequest request, RespWriter writer) =>
        writer.WriteInteger(session.TryReadRow(request[1], out var row) ? RowReplies.FieldCount(row) : 0);

    public static void HStrLen(RespSession session, RespRequest request, RespWriter writer)
    {
        if (session.TryReadRow(request[1], out var row) && RowReplies.ColumnOf(row, request[2]) is var c && RowReplies.HasField(row, c))
            writer.WriteInteger(row.View.Value(c).Length);
        else
            writer.WriteInteger(0);
    }

    /// <summary>A row has few fields, so like a small Redis hash it comes back whole, with cursor 0.</summary>
    public static void HScan(RespSession session, RespRequest request, RespWriter writer)
    {
        if (!ScanOptions.TryParseCursor(request[2], out _))
        {
            writer.WriteError("ERR invalid cursor"u8);
            return;
        }
        if (!ScanOptions.TryParse(request, 3, allowType: false, allowNoValues: true, writer, out var options)) return;
        writer.WriteArrayHeader(2);
        writer.WriteBulk("0"u8);
        if (!session.TryReadRow(request[1], out var row))
        {
            writer.WriteArrayHeader(0);
            return;
        }
        var view = row.View;
        var columns = row.Schema.Columns;
        int n = Math.Min(view.ColumnCount, columns.Count), matched = 0;
        for (int c = 0; c < n; c++)
            if (RowReplies.HasField(row, c) && (!options.HasMatch || GlobPattern.IsMatch(options.Match, columns[c].Utf8Name))) matched++;
        writer.WriteArrayHeader(options.NoValues ? matched : matched * 2);
        for (int c = 0; c < n; c++)
        {
            if (!RowReplies.HasField(row, c) || (options.HasMatch && !GlobPattern.IsMatch(options.Match, columns[c].Utf8Name))) continue;
            writer.WriteBulk(columns[c].Utf8Name);
            if (!options.NoValues) writer.WriteBulk(view.Value(c));
        }
    }

    /// <summary>
    /// JSON.GET key [path]: the row as a JSON object (RedisJSON's reply is a bulk string). Paths: none, "." or
    /// "$" for the row ("$" wraps it in an array, as JSONPath results are), ".col" / "$.col" for one column.
    /// </summary>
    public static void JsonGet(RespSession session, RespRequest request, RespWriter writer)
    {
        if (request.Count > 3)
        {
            writer.WriteError("ERR pgrelay's JSON.GET takes at most one path"u8);
            return;
        }
        var path = request.Count == 3 ? request[2] : "."u8;
        bool jsonPath = path.Length > 0 && path[0] == (byte)'$';
        var column = path.TrimStart("$"u8).TrimStart("."u8);
        if (!session.TryReadRow(request[1], out var row))
        {
            writer.WriteNull();
            return;
        }
        var buffer = session.Scratch;
        buffer.Truncate(0);
        if (jsonPath) buffer.GetSpan(1)[0] = (byte)'[';
        if (jsonPath) buffer.Advance(1);
        if (column.IsEmpty)
        {
            JsonRowRenderer.Write(row.View, row.Schema, buffer);
        }
        else
        {
            int c = RowReplies.ColumnOf(row, column);
            if (c < 0)
            {
                if (jsonPath) writer.WriteBulk("[]"u8);
                else writer.WriteError($"ERR Path '{request.ArgString(2)}' does not exist");
                return;
            }
            var schema = row.Schema.Columns[c];
            if (RowReplies.HasField(row, c)) JsonValueRenderer.WriteValue(schema.Kind, schema.ElementKind, row.View.Value(c), buffer, schema.Record);
            else JsonValueRenderer.WriteNull(buffer);
        }
        if (jsonPath)
        {
            buffer.GetSpan(1)[0] = (byte)']';
            buffer.Advance(1);
        }
        writer.WriteBulk(buffer.Written);
    }
}
