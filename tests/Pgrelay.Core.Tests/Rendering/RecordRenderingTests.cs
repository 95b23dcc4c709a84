using System.Buffers;
using System.Text;
using Pgrelay.Core.Model;
using Pgrelay.Core.Rendering;
using static Pgrelay.Core.Tests.Rendering.Render;

namespace Pgrelay.Core.Tests.Rendering;

/// <summary>
/// Composite text as record_out writes it (and as record_in reads it) rendered by a known shape. The comparison with
/// PostgreSQL's own to_jsonb is in the HTTP tests (CompositeJsonTests); these are the edges a server does not print.
/// </summary>
public class RecordRenderingTests
{
    private static readonly RecordShape Pair = new([
        new RecordField("n", 23, PgTypeKind.Integer, PgTypeKind.Integer, null),
        new RecordField("s", 25, PgTypeKind.Text, PgTypeKind.Text, null),
    ]);

    private static readonly RecordShape Nested = new([
        new RecordField("p", 0, PgTypeKind.Record, PgTypeKind.Record, Pair),
        new RecordField("ps", 0, PgTypeKind.Array, PgTypeKind.Record, Pair),
    ]);

    private static string Record(string text, RecordShape shape)
    {
        var buffer = new ArrayBufferWriter<byte>();
        JsonValueRenderer.WriteValue(PgTypeKind.Record, PgTypeKind.Record, Encoding.UTF8.GetBytes(text), buffer, shape);
        return Valid(buffer.WrittenSpan);
    }

    [Theory]
    [InlineData("(1,a)", "{\"n\":1,\"s\":\"a\"}")]
    [InlineData("(,)", "{\"n\":null,\"s\":null}")]
    [InlineData("(1,\"\")", "{\"n\":1,\"s\":\"\"}")]
    [InlineData("(1,\"a \"\"b\"\", (c)\")", "{\"n\":1,\"s\":\"a \\\"b\\\", (c)\"}")]
    [InlineData("(1,\"back\\\\slash\")", "{\"n\":1,\"s\":\"back\\\\slash\"}")]
    [InlineData("(1,a\\,b)", "{\"n\":1,\"s\":\"a,b\"}")]   // record_in's backslash outside quotes
    [InlineData("(1,NULL)", "{\"n\":1,\"s\":\"NULL\"}")]   // in a record only an empty field is NULL
    [InlineData("(\"1\",x\"y z\"w)", "{\"n\":1,\"s\":\"xy zw\"}")]   // quotes may cover part of a field
    public void Fields_render_by_their_type(string text, string json) => Assert.Equal(json, Record(text, Pair));

    [Theory]
    [InlineData("(\"(1,\"\"a,b\"\")\",\"{\"\"(2,c)\"\",NULL}\")", "{\"p\":{\"n\":1,\"s\":\"a,b\"},\"ps\":[{\"n\":2,\"s\":\"c\"},null]}")]
    [InlineData("(,{})", "{\"p\":null,\"ps\":[]}")]
    [InlineData("(\"(1,x)\",\"{\"\"(1,2,3)\"\"}\")", "{\"p\":{\"n\":1,\"s\":\"x\"},\"ps\":[\"(1,2,3)\"]}")]   // an element that does not fit stays text
    public void Nested_composites_and_arrays_of_them(string text, string json) => Assert.Equal(json, Record(text, Nested));

    [Theory]
    [InlineData("(1,a,b)")]     // more fields than the shape: the type was altered
    [InlineData("(1)")]         // fewer
    [InlineData("(1,\"a)")]     // an open quote
    [InlineData("(1,a\\)")]     // a backslash that takes the closing parenthesis
    [InlineData("(1,a)x")]
    [InlineData("1,a")]
    [InlineData("")]
    [InlineData("(")]
    public void Text_that_does_not_fit_renders_as_the_string_PostgreSQL_printed(string text) =>
        Assert.Equal(text, System.Text.Json.JsonDocument.Parse(Record(text, Pair)).RootElement.GetString());

    [Fact]
    public void Every_prefix_of_a_nested_value_renders_valid_json()
    {
        const string text = "(\"(1,\"\"a,\\\\\"\"b\"\")\",\"{\"\"(2,c)\"\",NULL,\"\"(,)\"\"}\")";
        for (int i = 0; i <= text.Length; i++) Record(text[..i], Nested);
    }

    [Fact]
    public void Without_a_shape_a_composite_is_its_text() =>
        Assert.Equal("\"(1,a)\"", Value(PgTypeKind.Record, "(1,a)"));

    [Theory]
    [InlineData("(1,a)", 2)]
    [InlineData("(,)", 2)]
    [InlineData("()", 1)]
    [InlineData("(\"a,b\",\"(c,d)\",e)", 3)]
    [InlineData("(\"a\"\",b\",c)", 2)]
    [InlineData("(a\\,b,c)", 2)]
    [InlineData("(1,a", -1)]
    public void Field_count(string text, int fields) => Assert.Equal(fields, RecordRenderer.FieldCount(Encoding.UTF8.GetBytes(text)));
}
