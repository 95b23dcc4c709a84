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
    [InlineData("0044-03-15 12:00:00 BC", "\"0044-03-15 12:00:00 BC\"")]
    [InlineData("12345-01-01 00:00:00", "\"12345-01-01 00:00:00\"")]
    public void Timestamps_become_iso_8601(string text, string json) => Assert.Equal(json, Value(PgTypeKind.Timestamp, text));

    [Theory]
    [InlineData("2024-01-31 12:00:00+00", "\"2024-01-31T12:00:00+00:00\"")]
    [InlineData("2024-01-31 12:00:00.5+05:30", "\"2024-01-31T12:00:00.5+05:30\"")]
    [InlineData("2024-01-31 12:00:00-08", "\"2024-01-31T12:00:00-08:00\"")]
    [InlineData("2024-01-31 12:00:00+01:00:00", "\"2024-01-31T12:00:00+01:00\"")]
    // A local-mean-time offset with seconds is written as the same instant in UTC.
    [InlineData("1900-01-01 00:00:00.25+00:09:21", "\"1899-12-31T23:50:39.25+00:00\"")]
    [InlineData("1900-01-01 00:00:00-04:56:02", "\"1900-01-01T04:56:02+00:00\"")]
    [InlineData("infinity", "\"infinity\"")]
    [InlineData("-infinity", "\"-infinity\"")]
    [InlineData("0044-03-15 12:00:00+00 BC", "\"0044-03-15 12:00:00+00 BC\"")]
    public void Timestamps_with_zone_become_iso_8601(string text, string json) =>
        Assert.Equal(json, Value(PgTypeKind.TimestampTz, text));

    [Theory]
    [InlineData("12:00:00+02", "\"12:00:00+02:00\"")]
    [InlineData("12:00:00.25-03:30", "\"12:00:00.25-03:30\"")]
    [InlineData("12:00:00+00:09:21", "\"12:00:00+00:09:21\"")]
    public void Times_with_zone_get_full_offsets(string text, string json) => Assert.Equal(json, Value(PgTypeKind.TimeTz, text));
}
