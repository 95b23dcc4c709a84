using System.Text;
using System.Text.Json;

namespace Pgrelay.Differential.Tests;

/// <summary>
/// One spelling per JSON value, so two renderings compare as strings: object members sorted, strings re-escaped one
/// way, numbers kept exactly as written (pgrelay promises numeric without precision loss: 1.50 is not 1.5).
/// </summary>
public static class CanonicalJson
{
    public static string Of(string? json) => json is null ? "null" : Of(JsonDocument.Parse(json).RootElement);

    public static string Of(JsonElement element)
    {
        var sb = new StringBuilder();
        Write(element, sb);
        return sb.ToString();
    }

    private static void Write(JsonElement e, StringBuilder sb)
    {
        switch (e.ValueKind)
        {
            case JsonValueKind.Object:
                sb.Append('{');
                bool first = true;
                foreach (var p in e.EnumerateObject().OrderBy(p => p.Name, StringComparer.Ordinal))
                {
                    if (!first) sb.Append(',');
                    first = false;
                    sb.Append(JsonSerializer.Serialize(p.Name)).Append(':');
                    Write(p.Value, sb);
                }
                sb.Append('}');
                break;
            case JsonValueKind.Array:
                sb.Append('[');
                int i = 0;
                foreach (var item in e.EnumerateArray())
                {
                    if (i++ > 0) sb.Append(',');
                    Write(item, sb);
                }
                sb.Append(']');
                break;
            case JsonValueKind.String:
                sb.Append(JsonSerializer.Serialize(e.GetString()));
                break;
            default:
                sb.Append(e.GetRawText());
                break;
        }
    }
}
