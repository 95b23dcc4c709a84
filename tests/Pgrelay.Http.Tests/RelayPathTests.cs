using System.Text;

namespace Pgrelay.Http.Tests;

public class RelayPathTests
{
    [Theory]
    [InlineData("/pub/cities/Tulsa/OK", "pub", "cities", "Tulsa/OK")]
    [InlineData("/pub/geo.cities/New%20York/NY", "pub", "geo.cities", "New York/NY")]
    [InlineData("/pub/t/a%2Fb", "pub", "t", "a/b")]
    [InlineData("/pub/t/100%25", "pub", "t", "100%")]
    [InlineData("/pub/t/50%", "pub", "t", "50%")]
    [InlineData("/pub/t/a+b", "pub", "t", "a+b")]
    [InlineData("/pub/t/caf%C3%A9", "pub", "t", "café")]
    [InlineData("/pub/t/café", "pub", "t", "café")]
    public void Parts_are_decoded_once(string raw, string publication, string table, string key)
    {
        Assert.True(RelayPath.TryParse(raw, out var path));
        Assert.Equal(publication, path.Publication);
        Assert.Equal(table, path.Table);
        Assert.Equal(key, Encoding.UTF8.GetString(path.Key));
    }

    [Fact]
    public void Table_without_key_is_a_table_path()
    {
        Assert.True(RelayPath.TryParse("/pub/cities", out var path));
        Assert.False(path.HasKey);
        Assert.False(RelayPath.TryParse("/pub", out _));
    }
}
