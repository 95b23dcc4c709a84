using Pgrelay.Core.Model;
using static Pgrelay.Core.Tests.Rendering.Render;

namespace Pgrelay.Core.Tests.Rendering;

public class DateTimeRenderingTests
{
    [Theory]
    [InlineData("2024-01-31 12:00:00", "\"2024-01-31T12:00:00\"")]
    [InlineData("2024-01-31 12:00:00.123", "\"2024-01-31T12:00:00.123\"")]
    [InlineData("2024-01-31 12:00:00.123456", "\"2024-01-31T12:00:00.123456\"")]
    [InlineData("infinity", "\"infinity\"")]
    [InlineData("-infinity", "\"-infinity\"")]
    // As PostgreSQL's to_json writes them: the era stays a suffix, years keep all their digits.
    [InlineData("0044-03-15 12:00:00 BC", "\"0044-03-15T12:00:00 BC\"")]
    [InlineData("4713-01-01 00:00:00.5 BC", "\"4713-01-01T00:00:00.5 BC\"")]
    [InlineData("12345-01-01 00:00:00", "\"12345-01-01T00:00:00\"")]
    [InlineData("294276-12-31 23:59:59.999999", "\"294276-12-31T23:59:59.999999\"")]
    // Not ISO output: kept as printed.
    [InlineData("044-03-15 12:00:00", "\"044-03-15 12:00:00\"")]
    [InlineData("2024-01-31 12:00:00 AD", "\"2024-01-31 12:00:00 AD\"")]
    [InlineData(" BC", "\" BC\"")]
    public void Timestamps_become_iso_8601(string text, string json) => Assert.Equal(json, Value(PgTypeKind.Timestamp, text));

    [Theory]
    [InlineData("2024-01-31 12:00:00+00", "\"2024-01-31T12:00:00+00:00\"")]
    [InlineData("2024-01-31 12:00:00.5+05:30", "\"2024-01-31T12:00:00.5+05:30\"")]
    [InlineData("2024-01-31 12:00:00-08", "\"2024-01-31T12:00:00-08:00\"")]
    [InlineData("2024-01-31 12:00:00+01:00:00", "\"2024-01-31T12:00:00+01:00\"")]
    // A local-mean-time offset keeps its seconds, as to_json writes it.
    [InlineData("1900-01-01 00:00:00.25+00:09:21", "\"1900-01-01T00:00:00.25+00:09:21\"")]
    [InlineData("1900-01-01 00:00:00-04:56:02 BC", "\"1900-01-01T00:00:00-04:56:02 BC\"")]
    [InlineData("infinity", "\"infinity\"")]
    [InlineData("-infinity", "\"-infinity\"")]
    [InlineData("0044-03-15 12:00:00+00 BC", "\"0044-03-15T12:00:00+00:00 BC\"")]
    [InlineData("12345-06-07 08:09:10+00", "\"12345-06-07T08:09:10+00:00\"")]
    [InlineData("0044-03-15 12:00:00 BC", "\"0044-03-15 12:00:00 BC\"")]
    [InlineData("2024-01-31 12:00:00+00 BCE", "\"2024-01-31 12:00:00+00 BCE\"")]
    public void Timestamps_with_zone_become_iso_8601(string text, string json) =>
        Assert.Equal(json, Value(PgTypeKind.TimestampTz, text));

    [Theory]
    [InlineData("12:00:00+02", "\"12:00:00+02\"")]
    [InlineData("12:00:00.25-03:30", "\"12:00:00.25-03:30\"")]
    [InlineData("12:00:00+00:09:21", "\"12:00:00+00:09:21\"")]
    public void Times_with_zone_stay_as_printed_as_to_json_writes_them(string text, string json) => Assert.Equal(json, Value(PgTypeKind.TimeTz, text));
}
