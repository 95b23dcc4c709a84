using Pgrelay.Core.Model;
using static Pgrelay.Core.Tests.Rendering.Render;

namespace Pgrelay.Core.Tests.Rendering;

public class StringRenderingTests
{
    [Theory]
    [InlineData("", "\"\"")]
    [InlineData("say \"hi\"", "\"say \\\"hi\\\"\"")]
    [InlineData("C:\\path", "\"C:\\\\path\"")]
    [InlineData("a\nb\r\tc\b\f", "\"a\\nb\\r\\tc\\b\\f\"")]
    [InlineData("\u0001\u001f", "\"\\u0001\\u001f\"")]
    [InlineData("café ☕ 🐘", "\"café ☕ 🐘\"")]
    [InlineData("</script>", "\"</script>\"")]
    public void Text_is_escaped(string text, string json) => Assert.Equal(json, Value(PgTypeKind.Text, text));

    [Fact]
    public void Invalid_utf8_becomes_replacement_characters()
    {
        byte[] text = [(byte)'a', 0xC3, (byte)'b', 0xFF, 0xE2, 0x82, (byte)'"', 0xC3, 0xA9];
        Assert.Equal("\"a\\ufffdb\\ufffd\\ufffd\\\"é\"", Value(PgTypeKind.Text, text));
    }

    [Fact]
    public void Long_text_is_copied_whole()
    {
        string text = string.Concat(Enumerable.Repeat("0123456789\"", 2000));
        Assert.Equal("\"" + text.Replace("\"", "\\\"") + "\"", Value(PgTypeKind.Text, text));
    }
}
