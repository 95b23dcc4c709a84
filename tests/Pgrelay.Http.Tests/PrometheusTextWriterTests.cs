using Pgrelay.Http.Metrics;

namespace Pgrelay.Http.Tests;

public class PrometheusTextWriterTests
{
    [Theory]
    [InlineData("plain", "plain")]
    [InlineData("a\"b", "a\\\"b")]
    [InlineData("back\\slash", "back\\\\slash")]
    [InlineData("two\nlines", "two\\nlines")]
    public void Label_values_are_escaped(string value, string escaped) =>
        Assert.Equal(escaped, PrometheusTextWriter.EscapeLabelValue(value));

    [Theory]
    [InlineData("pgrelay.table.rows", "pgrelay_table_rows")]
    [InlineData("9lives-ok", "_lives_ok")]
    public void Metric_names_are_sanitized(string name, string expected) => Assert.Equal(expected, PrometheusTextWriter.MetricName(name));
}
