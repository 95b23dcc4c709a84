using Pgrelay.Core.Model;
using static Pgrelay.Core.Tests.Rendering.Render;

namespace Pgrelay.Core.Tests.Rendering;

public class ScalarRenderingTests
{
    [Theory]
    [InlineData("0", "0")]
    [InlineData("-32768", "-32768")]
    [InlineData("9223372036854775807", "9223372036854775807")]
    [InlineData("12x", "\"12x\"")]   // not what an integer prints: still valid JSON
    public void Integers_are_numbers(string text, string json) => Assert.Equal(json, Value(PgTypeKind.Integer, text));

    [Theory]
    [InlineData("1.5", "1.5")]
    [InlineData("-0", "-0")]
    [InlineData("1e+100", "1e+100")]
    [InlineData("1.2345678901234567e-05", "1.2345678901234567e-05")]
    [InlineData("3.4028235e+38", "3.4028235e+38")]
    [InlineData("NaN", "\"NaN\"")]
    [InlineData("Infinity", "\"Infinity\"")]
    [InlineData("-Infinity", "\"-Infinity\"")]
    public void Floats_are_numbers_except_nan_and_infinities(string text, string json) =>
        Assert.Equal(json, Value(PgTypeKind.Float, text));

    [Theory]
    [InlineData("123456789012345678901234567890.123456789012345678901234567890", "123456789012345678901234567890.123456789012345678901234567890")]
    [InlineData("0.10", "0.10")]      // trailing zeros are scale, kept
    [InlineData("-0.000001", "-0.000001")]
    [InlineData("NaN", "\"NaN\"")]
    [InlineData("Infinity", "\"Infinity\"")]
    [InlineData("-Infinity", "\"-Infinity\"")]
    public void Numerics_are_copied_verbatim(string text, string json) => Assert.Equal(json, Value(PgTypeKind.Numeric, text));

    [Theory]
    [InlineData("t", "true")]
    [InlineData("f", "false")]
    [InlineData("maybe", "\"maybe\"")]
    public void Booleans(string text, string json) => Assert.Equal(json, Value(PgTypeKind.Boolean, text));

    [Theory]
    [InlineData("{\"a\": [1, 2.5, null], \"b\": {\"c\": \"x\\ny\"}}")]
    [InlineData("[]")]
    [InlineData("\"just a string\"")]
    [InlineData("42")]
    [InlineData(" {\n  \"spaced\" : true\n} ")]
    public void Json_is_embedded_raw(string text) => Assert.Equal(text, Value(PgTypeKind.Json, text));

    [Theory]
    [InlineData("{not json", "\"{not json\"")]
    [InlineData("1 2", "\"1 2\"")]
    [InlineData("", "\"\"")]
    public void Invalid_json_becomes_a_string(string text, string json) => Assert.Equal(json, Value(PgTypeKind.Json, text));

    [Fact]
    public void Deeply_nested_json_is_still_embedded()
    {
        string text = new string('[', 200) + new string(']', 200);
        Assert.Equal(text, Value(PgTypeKind.Json, text));
    }

    [Theory]
    [InlineData("\\x", "\"\"")]
    [InlineData("\\x0a0b", "\"Cgs=\"")]
    [InlineData("\\xDEADBEEF", "\"3q2+7w==\"")]
    [InlineData("\\x0a0", "\"\\\\x0a0\"")]            // odd length: not hex output, kept as printed
    [InlineData("abc\\000", "\"abc\\\\000\"")]          // escape format: kept as printed
    public void Bytea_hex_becomes_base64(string text, string json) => Assert.Equal(json, Value(PgTypeKind.Bytea, text));

    [Fact]
    public void Large_bytea_is_base64_across_chunks()
    {
        var bytes = new byte[10_000];
        new Random(7).NextBytes(bytes);
        string text = "\\x" + Convert.ToHexString(bytes).ToLowerInvariant();
        Assert.Equal("\"" + Convert.ToBase64String(bytes) + "\"", Value(PgTypeKind.Bytea, text));
    }

    [Theory]
    [InlineData(PgTypeKind.Date, "2024-01-31")]
    [InlineData(PgTypeKind.Date, "infinity")]
    [InlineData(PgTypeKind.Date, "0044-03-15 BC")]
    [InlineData(PgTypeKind.Time, "12:34:56.789")]
    [InlineData(PgTypeKind.Interval, "1 year 2 mons 3 days 04:05:06.5")]
    [InlineData(PgTypeKind.Interval, "-00:00:01")]
    [InlineData(PgTypeKind.Uuid, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")]
    [InlineData(PgTypeKind.Text, "plain text")]
    public void Other_types_are_strings_as_printed(PgTypeKind kind, string text) =>
        Assert.Equal("\"" + text + "\"", Value(kind, text));
}

public class InvalidJsonBytesTests
{
    [Fact]
    public void Json_with_invalid_utf8_becomes_a_string()
    {
        byte[] text = [(byte)'"', 0xFF, (byte)'"'];
        Assert.Equal("\"\\\"\\ufffd\\\"\"", Render.Value(PgTypeKind.Json, text));
    }
}
