using Pgrelay.Core.Model;
using static Pgrelay.Core.Tests.Rendering.Render;

namespace Pgrelay.Core.Tests.Rendering;

public class ArrayRenderingTests
{
    [Theory]
    [InlineData("{}", "[]")]
    [InlineData("{1,2,3}", "[1,2,3]")]
    [InlineData("{1,NULL,-3}", "[1,null,-3]")]
    [InlineData("{{1,2},{3,4}}", "[[1,2],[3,4]]")]
    [InlineData("{{{1}},{{2}}}", "[[[1]],[[2]]]")]
    public void Integer_arrays(string text, string json) => Assert.Equal(json, Value(PgTypeKind.Array, text, PgTypeKind.Integer));

    [Theory]
    [InlineData("{a,b}", "[\"a\",\"b\"]")]
    [InlineData("{\"a b\",\"\",\"NULL\",NULL}", "[\"a b\",\"\",\"NULL\",null]")]
    [InlineData("{\"say \\\"hi\\\"\",\"back\\\\slash\"}", "[\"say \\\"hi\\\"\",\"back\\\\slash\"]")]
    [InlineData("{\"a,b\",\"{c}\"}", "[\"a,b\",\"{c}\"]")]
    [InlineData("{{a,b},{c,NULL}}", "[[\"a\",\"b\"],[\"c\",null]]")]
    [InlineData("{\"line\nbreak\"}", "[\"line\\nbreak\"]")]
    public void Text_arrays(string text, string json) => Assert.Equal(json, Value(PgTypeKind.Array, text, PgTypeKind.Text));

    [Theory]
    [InlineData(PgTypeKind.Boolean, "{t,f,NULL}", "[true,false,null]")]
    [InlineData(PgTypeKind.Float, "{1.5,NaN,-Infinity}", "[1.5,\"NaN\",\"-Infinity\"]")]
    [InlineData(PgTypeKind.Numeric, "{1.10,NaN}", "[1.10,\"NaN\"]")]
    [InlineData(PgTypeKind.Json, "{\"{\\\"a\\\": 1}\",\"[1, 2]\",NULL}", "[{\"a\": 1},[1, 2],null]")]
    [InlineData(PgTypeKind.Bytea, "{\"\\\\x0a0b\",NULL}", "[\"Cgs=\",null]")]
    [InlineData(PgTypeKind.Timestamp, "{\"2024-01-31 12:00:00\",infinity}", "[\"2024-01-31T12:00:00\",\"infinity\"]")]
    [InlineData(PgTypeKind.TimestampTz, "{\"2024-01-31 12:00:00+00\"}", "[\"2024-01-31T12:00:00+00:00\"]")]
    [InlineData(PgTypeKind.Date, "{2024-01-31,2024-02-01}", "[\"2024-01-31\",\"2024-02-01\"]")]
    [InlineData(PgTypeKind.Uuid, "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}", "[\"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11\"]")]
    public void Elements_render_with_their_type(PgTypeKind element, string text, string json) =>
        Assert.Equal(json, Value(PgTypeKind.Array, text, element));

    [Theory]
    [InlineData("[0:1]={1,2}")]
    [InlineData("{1,2")]
    [InlineData("{1,,2}")]
    [InlineData("{\"unterminated}")]
    [InlineData("{1}x")]
    [InlineData("{a\"b}")]
    [InlineData("not an array")]
    public void Unexpected_literals_are_kept_as_strings(string text)
    {
        string json = Value(PgTypeKind.Array, text, PgTypeKind.Integer);
        Assert.StartsWith("\"", json);
        Assert.Equal(text, System.Text.Json.JsonSerializer.Deserialize<string>(json));
    }

    [Fact]
    public void Long_escaped_elements_use_a_pooled_buffer()
    {
        string element = string.Concat(Enumerable.Repeat("x\\\"", 1000));
        string json = Value(PgTypeKind.Array, "{\"" + element + "\",\"" + element + "\"}", PgTypeKind.Text);
        string expected = string.Concat(Enumerable.Repeat("x\"", 1000));
        Assert.Equal([expected, expected], System.Text.Json.JsonSerializer.Deserialize<string[]>(json)!);
    }
}
