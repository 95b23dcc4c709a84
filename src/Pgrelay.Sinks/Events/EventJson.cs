using System.Buffers;
using System.Buffers.Text;
using Pgrelay.Core.Model;
using Pgrelay.Core.Rendering;
using Pgrelay.Core.Rows;

namespace Pgrelay.Sinks.Events;

/// <summary>
/// The one JSON shape of an event, shared by every sink that writes documents (stdout, file, webhook, Redis Streams):
/// <code>{"id":"0/16B3748:0","op":"u","schema":"public","table":"orders","key":"42","before":{...},"after":{...},
///  "lsn":"0/16B3748","end_lsn":"0/16B3790","xid":750,"ts":"2026-11-23T10:00:00.123456Z"}</code>
/// Values render as the HTTP API renders rows (numbers as numbers, bytea as base64...). A partial event (replayed, see
/// <see cref="ChangeEvent.Partial"/>) says <c>"partial":true</c> and leaves the values it does not know out of its images
/// rather than showing them as null.
/// </summary>
public static class EventJson
{
    public static void Write(ChangeEvent e, IBufferWriter<byte> output)
    {
        Raw(output, "{\"id\":"u8);
        JsonStringWriter.Write(e.Id, output);
        Raw(output, ",\"op\":"u8);
        JsonStringWriter.Write(e.OpName, output);
        if (e.Table is { } table)
        {
            Raw(output, ",\"schema\":"u8);
            JsonStringWriter.Write(table.Schema, output);
            Raw(output, ",\"table\":"u8);
            JsonStringWriter.Write(table.Name, output);
            if (e.Op != EventOp.Truncate)
            {
                Raw(output, ",\"key\":"u8);
                if (e.Key is { } key) JsonStringWriter.Write(key, output); else Raw(output, "null"u8);
                Raw(output, ",\"before\":"u8);
                Row(e.Before, table, output);
                Raw(output, ",\"after\":"u8);
                Row(e.After, table, output);
            }
        }
        Raw(output, ",\"lsn\":"u8);
        Lsn(output, e.CommitLsn);
        if (e.Op is not (EventOp.Read or EventOp.Begin))
        {
            Raw(output, ",\"end_lsn\":"u8);
            Lsn(output, e.EndLsn);
        }
        Raw(output, ",\"xid\":"u8);
        Number(output, e.Xid);
        Raw(output, ",\"ts\":"u8);
        var ts = output.GetSpan(40);
        ts[0] = (byte)'"';
        e.CommitTime.UtcDateTime.TryFormat(ts[1..], out int n, "yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", System.Globalization.CultureInfo.InvariantCulture);
        ts[n + 1] = (byte)'"';
        output.Advance(n + 2);
        if (e.Op == EventOp.Commit)
        {
            Raw(output, ",\"events\":"u8);
            Number(output, (uint)e.EventCount);
        }
        if (e.LoadStart) Raw(output, ",\"snapshot\":true"u8);
        if (e.UnpublishedFrom is not null) Raw(output, ",\"unpublished\":true"u8);
        if (e.Replayed) Raw(output, ",\"replayed\":true"u8);
        if (e.Partial) Raw(output, ",\"partial\":true"u8);
        Raw(output, "}"u8);
    }

    public static byte[] ToBytes(ChangeEvent e)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        Write(e, buffer);
        return buffer.WrittenSpan.ToArray();
    }

    public static string ToJsonString(ChangeEvent e) => System.Text.Encoding.UTF8.GetString(ToBytes(e));

    /// <summary>A row image as a JSON object (or null).</summary>
    public static void Row(SinkValue[]? row, SinkTable table, IBufferWriter<byte> output)
    {
        if (row is null)
        {
            Raw(output, "null"u8);
            return;
        }
        Raw(output, "{"u8);
        bool first = true;
        for (int i = 0; i < table.Columns.Count; i++)
        {
            var v = row[i];
            if (v.IsUnknown) continue;   // unknown (a partial image): left out, never shown as null
            if (!first) Raw(output, ","u8);
            first = false;
            var column = table.Columns[i];
            JsonStringWriter.Write(column.Utf8Name, output);
            Raw(output, ":"u8);
            if (v.State == ColumnState.Null) JsonValueRenderer.WriteNull(output);
            else JsonValueRenderer.WriteValue(column.Kind, column.ElementKind, v.Bytes.Span, output, column.Record);
        }
        Raw(output, "}"u8);
    }

    private static void Lsn(IBufferWriter<byte> output, Lsn lsn)
    {
        var span = output.GetSpan(20);
        span[0] = (byte)'"';
        int n = lsn.Format(span[1..]);
        span[n + 1] = (byte)'"';
        output.Advance(n + 2);
    }

    private static void Number(IBufferWriter<byte> output, uint value)
    {
        var span = output.GetSpan(12);
        Utf8Formatter.TryFormat(value, span, out int n);
        output.Advance(n);
    }

    private static void Raw(IBufferWriter<byte> output, ReadOnlySpan<byte> bytes)
    {
        var span = output.GetSpan(bytes.Length);
        bytes.CopyTo(span);
        output.Advance(bytes.Length);
    }
}
