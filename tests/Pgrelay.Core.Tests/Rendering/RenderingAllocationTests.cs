using System.Buffers;
using Pgrelay.Core.Model;
using Pgrelay.Core.Rendering;
using Pgrelay.Core.Rows;

namespace Pgrelay.Core.Tests.Rendering;

/// <summary>Rendering is on every read's path: it must not allocate once warm (bench/ measures the speed).</summary>
public class RenderingAllocationTests
{
    [Fact]
    public void Rendering_a_row_of_every_type_allocates_nothing()
    {
        var table = new TableSchema(1, "public", "all", [
            new ColumnSchema("i", PgTypes.Int4, -1, true), new ColumnSchema("f", PgTypes.Float8, -1, false),
            new ColumnSchema("n", PgTypes.Numeric, -1, false), new ColumnSchema("b", PgTypes.Bool, -1, false),
            new ColumnSchema("j", PgTypes.Jsonb, -1, false), new ColumnSchema("y", PgTypes.Bytea, -1, false),
            new ColumnSchema("ts", PgTypes.Timestamp, -1, false), new ColumnSchema("tz", PgTypes.TimestampTz, -1, false),
            new ColumnSchema("tt", PgTypes.TimeTz, -1, false), new ColumnSchema("t", PgTypes.Text, -1, false),
            new ColumnSchema("a", 1009, -1, false), new ColumnSchema("u", PgTypes.Uuid, -1, false),
        ], ReplicaIdentity.Default);
        var builder = new RowBuilder();
        foreach (var v in new[] { "1", "NaN", "1.50", "t", "{\"k\": [1, \"v\"]}", "\\x0a0b0c", "2024-01-31 12:00:00.5",
                     "1900-01-01 00:00:00+00:09:21", "12:00:00+02", "say \"hi\"\n\u00e9", "{a,\"b \\\"c\\\"\",NULL}",
                     "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11" })
            builder.AddValue(v);
        var row = new RowView(builder.Build());
        var output = new ArrayBufferWriter<byte>(4096);
        for (int i = 0; i < 100; i++)
        {
            output.ResetWrittenCount();
            JsonRowRenderer.Write(row, table, output);
        }

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 100; i++)
        {
            output.ResetWrittenCount();
            JsonRowRenderer.Write(row, table, output);
        }
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }
}
