using System.Text;

namespace Pgrelay.Http.Tests;

public class RelayPathTests
{
    [Theory]
    [InlineData("/pub/cities/Tulsa/OK", "pub", "cities", "Tulsa/OK")]
    [InlineData("/pub/geo.cities/New%20York/NY", "pub", "geo.cities", "New York/NY")]
    [InlineData("/pub/t/caf%C3%A9", "pub", "t", "café")]
    [InlineData("/pub/t/café", "pub", "t", "café")]
    [InlineData("/pub/t/a+b", "pub", "t", "a+b")]
    // Each segment is one key part, spelled as keys spell parts: '/' and '%' inside a part are escaped.
    [InlineData("/pub/t/a%2Fb", "pub", "t", "a%2Fb")]
    [InlineData("/pub/t/a%2fb/c", "pub", "t", "a%2Fb/c")]
    [InlineData("/pub/t/100%25", "pub", "t", "100%25")]
    [InlineData("/pub/t/50%", "pub", "t", "50%25")]
    [InlineData("/pub/t/%FF/x", "pub", "t", "%FF/x")]   // a NULL part
    [InlineData("/pub/t/%ff/x", "pub", "t", "%FF/x")]
    [InlineData("/pub/t/a//b", "pub", "t", "a//b")]
    // The table segment: a raw '.' separates schema and table; an escaped one belongs to a name.
    [InlineData("/pub/a%2Eb%25/1", "pub", "a%2Eb%25", "1")]
    [InlineData("/my.pub/s.t/1", "my.pub", "s.t", "1")]
    public void Segments_are_decoded_once_and_spelled_as_key_parts(string raw, string publication, string table, string key)
    {
        Assert.True(RelayPath.TryParse(raw, out var path));
        Assert.Equal(publication, path.Publication);
        Assert.Equal(table, path.Table);
        Assert.Equal(key, Encoding.UTF8.GetString(path.Key));
    }

    /// <summary>A key's row part is a valid path as it is: its parts are its segments.</summary>
    [Theory]
    [InlineData("x%2Fy/z")]
    [InlineData("x/y%2Fz")]
    [InlineData("%25/")]
    [InlineData("%FF/%2F")]
    [InlineData("a//b")]
    [InlineData("1/x/2")]
    [InlineData("100%25%2F")]
    public void A_key_sent_as_a_path_names_the_same_key(string key)
    {
        Assert.True(RelayPath.TryParse("/pub/t/" + key, out var path));
        Assert.Equal(key, Encoding.UTF8.GetString(path.Key));
    }

    [Fact]
    public void Table_without_key_is_a_table_path()
    {
        Assert.True(RelayPath.TryParse("/pub/cities", out var path));
        Assert.False(path.HasKey);
        Assert.False(RelayPath.TryParse("/pub", out _));
    }

    /// <summary>Found by the random fuzz campaign: "." decoded to the empty table name, which no table has.</summary>
    [Theory]
    [InlineData("//pubers/./1")]
    [InlineData("/pub/./1")]
    [InlineData("/pub/s./1")]
    [InlineData("/pub/.t")]
    [InlineData("/pub//1")]
    public void An_empty_schema_or_table_name_is_no_table(string raw)
    {
        Assert.False(RelayPath.TryParse(raw, out _));
    }
}
