global using Xunit;
using System.Buffers;
using System.Text;
using System.Text.Json;
using Pgrelay.Core.Model;
using Pgrelay.Core.Rendering;

namespace Pgrelay.Core.Tests.Rendering;

/// <summary>Renders one PostgreSQL text value and checks that the result is valid JSON.</summary>
internal static class Render
{
    public static string Value(PgTypeKind kind, string text, PgTypeKind? elementKind = null) =>
        Value(kind, Encoding.UTF8.GetBytes(text), elementKind);

    public static string Value(PgTypeKind kind, byte[] text, PgTypeKind? elementKind = null)
    {
        var buffer = new ArrayBufferWriter<byte>();
        JsonValueRenderer.WriteValue(kind, elementKind ?? kind, text, buffer);
        return Valid(buffer.WrittenSpan);
    }

    public static string Valid(ReadOnlySpan<byte> json)
    {
        using var _ = JsonDocument.Parse(json.ToArray(), new JsonDocumentOptions { MaxDepth = 4096 });   // throws on invalid JSON
        Assert.True(System.Text.Unicode.Utf8.IsValid(json));
        return Encoding.UTF8.GetString(json);
    }
}
