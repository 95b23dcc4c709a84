using Pgrelay.Core.Model;
using Pgrelay.Core.Rendering;
using Pgrelay.Core.Rows;

namespace Pgrelay.Core.Tests.Rendering;

public class RowRenderingTests
{
    private static readonly TableSchema Table = new(1, "public", "things",
    [
        new ColumnSchema("id", PgTypes.Int8, -1, true),
        new ColumnSchema("na\"me", PgTypes.Text, -1, false),
        new ColumnSchema("price", PgTypes.Numeric, -1, false),
        new ColumnSchema("tags", 1009, -1, false),
        new ColumnSchema("seen", PgTypes.TimestampTz, -1, false),
        new ColumnSchema("doc", PgTypes.Jsonb, -1, false),
    ], ReplicaIdentity.Default);

    [Fact]
    public void Row_is_an_object_in_column_order()
    {
        var builder = new RowBuilder();
        builder.AddValue("42");
        builder.AddValue("widget");
        builder.AddValue("19.990");
        builder.AddValue("{red,\"dark blue\"}");
        builder.AddNull();
        builder.AddValue("{\"a\": 1}");
        string json = Render.Valid(System.Text.Encoding.UTF8.GetBytes(JsonRowRenderer.ToJsonString(new RowView(builder.Build()), Table)));
        Assert.Equal("{\"id\":42,\"na\\\"me\":\"widget\",\"price\":19.990,\"tags\":[\"red\",\"dark blue\"],\"seen\":null,\"doc\":{\"a\": 1}}", json);
    }

    [Fact]
    public void Unchanged_and_missing_columns_render_as_null()
    {
        var builder = new RowBuilder();
        builder.AddValue("1");
        builder.AddUnchanged();
        string json = JsonRowRenderer.ToJsonString(new RowView(builder.Build()), Table);
        Assert.Equal("{\"id\":1,\"na\\\"me\":null,\"price\":null,\"tags\":null,\"seen\":null,\"doc\":null}", Render.Valid(System.Text.Encoding.UTF8.GetBytes(json)));
    }
}
