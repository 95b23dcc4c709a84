using System.Buffers;
using System.Text.Json;
using Pgrelay.Core.Model;

namespace Pgrelay.Core.Rendering;

/// <summary>
/// Renders one value, held as PostgreSQL text output, as a typed JSON value. Every path produces valid
/// JSON whatever the bytes: a value that does not look the way its type prints falls back to a string.
/// </summary>
public static class JsonValueRenderer
{
    public static void WriteNull(IBufferWriter<byte> output) => JsonOutput.Write(output, "null"u8);

    /// <param name="record">The composite's fields when the value (Record) or its elements (ElementKind Record) are composites.</param>
    public static void WriteValue(PgTypeKind kind, PgTypeKind elementKind, ReadOnlySpan<byte> text, IBufferWriter<byte> output,
        RecordShape? record = null) => WriteValue(kind, elementKind, text, output, record, 0);

    /// <param name="depth">How deep inside composites and arrays the value is: nesting is bounded.</param>
    internal static void WriteValue(PgTypeKind kind, PgTypeKind elementKind, ReadOnlySpan<byte> text, IBufferWriter<byte> output,
        RecordShape? record, int depth)
    {
        switch (kind)
        {
            case PgTypeKind.Integer:
            case PgTypeKind.Float:
            case PgTypeKind.Numeric:
                // NaN and ±Infinity are not JSON numbers; numeric digits are copied, never parsed, so none is lost.
                if (JsonNumberSyntax.IsValid(text)) JsonOutput.Write(output, text);
                else JsonStringWriter.Write(text, output);
                break;
            case PgTypeKind.Boolean:
                if (text.Length == 1 && text[0] == 't') JsonOutput.Write(output, "true"u8);
                else if (text.Length == 1 && text[0] == 'f') JsonOutput.Write(output, "false"u8);
                else JsonStringWriter.Write(text, output);
                break;
            case PgTypeKind.Json:
                if (IsValidJson(text)) JsonOutput.Write(output, text);
                else JsonStringWriter.Write(text, output);
                break;
            case PgTypeKind.Bytea:
                ByteaRenderer.Write(text, output);
                break;
            case PgTypeKind.Timestamp:
                DateTimeRenderer.WriteTimestamp(text, output);
                break;
            case PgTypeKind.TimestampTz:
                DateTimeRenderer.WriteTimestampTz(text, output);
                break;
            case PgTypeKind.Array:
                ArrayRenderer.Write(text, elementKind, output, (byte)',', record, depth);
                break;
            case PgTypeKind.SemicolonArray:
                ArrayRenderer.Write(text, elementKind, output, (byte)';', record, depth);
                break;
            case PgTypeKind.Record:
                RecordRenderer.Write(text, record, output, depth);
                break;
            default:
                // Text, Date, Time, TimeTz, Interval, Uuid and unknown types: a string exactly as PostgreSQL printed it, as
                // to_json writes every type it has no category for (a date's " BC" and a time zone's "+02" included).
                JsonStringWriter.Write(text, output);
                break;
        }
    }

    /// <summary>
    /// json columns keep the text the client sent, which PostgreSQL checked; a database in SQL_ASCII can
    /// still hold bytes that are not UTF-8, so the value is checked before it is embedded raw.
    /// </summary>
    private static bool IsValidJson(ReadOnlySpan<byte> text)
    {
        if (!System.Text.Unicode.Utf8.IsValid(text)) return false;
        var reader = new Utf8JsonReader(text, new JsonReaderOptions { MaxDepth = 4096 });
        try
        {
            while (reader.Read()) { }
            return reader.BytesConsumed > 0;
        }
        catch (JsonException)
        {
            return false;
        }
    }
}
