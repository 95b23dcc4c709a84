using System.Text;
using Pgrelay.Core.Rows;

namespace Pgrelay.Core.Tests.Rows;

/// <summary>The row encoding: as small as the values allow, and every value, NULL and unchanged column read back exactly.</summary>
public class RowFormatTests
{
    private static string?[] Values(int columns, int length, Func<int, bool> isNull) =>
        [.. Enumerable.Range(0, columns).Select(i => isNull(i) ? null : $"{i}:" + new string((char)('a' + i % 26), Math.Max(0, length - 2 - i.ToString().Length)))];

    private static void AssertReadsBack(byte[] row, string?[] values)
    {
        var view = new RowView(row);
        Assert.Equal(values.Length, view.ColumnCount);
        for (int i = 0; i < values.Length; i++)
        {
            if (values[i] is null) Assert.Equal(ColumnState.Null, view.State(i));
            else
            {
                Assert.Equal(ColumnState.Value, view.State(i));
                Assert.Equal(values[i], Encoding.UTF8.GetString(view.Value(i)));
            }
        }
        Assert.Equal(row.Length - RowFormat.BodyOffset - (view.Copies > 1 ? sizeof(int) : 0), view.Body.Length - (view.Copies > 1 ? sizeof(int) : 0));
    }

    [Fact]
    public void A_row_without_nulls_pays_one_byte_of_count_and_no_states()
    {
        // The bench's 8-column accounts row: LSN and hash (12, not stored in pages), flags, shape, count, 8 offsets.
        string?[] values = ["000000000042", "owner 42", "52.50", "2020-02-12", "t", "0", "u42@example.com", "note 42"];
        var row = RowBuilder.FromText(values);
        int payload = values.Sum(v => v!.Length);
        Assert.Equal(12 + 3 + 8 + payload, row.Length);
        AssertReadsBack(row, values);
        // With a NULL the states come back: 2 bits a column.
        values[7] = null;
        row = RowBuilder.FromText(values);
        Assert.Equal(12 + 3 + 2 + 8 + (payload - "note 42".Length), row.Length);
        AssertReadsBack(row, values);
    }

    [Theory]
    [InlineData(0, 0)]
    [InlineData(1, 0)]
    [InlineData(3, 10)]
    [InlineData(8, 40)]        // u16 offsets
    [InlineData(255, 3)]
    [InlineData(256, 3)]       // u16 count
    [InlineData(1600, 2)]      // PostgreSQL's most columns, u16 offsets
    [InlineData(5, 20000)]     // u32 offsets
    public void Every_size_of_row_reads_back_exactly_with_and_without_nulls(int columns, int length)
    {
        foreach (var isNull in new Func<int, bool>[] { _ => false, i => i % 3 == 1, _ => true })
        {
            var values = Values(columns, length, isNull);
            AssertReadsBack(RowBuilder.FromText(values), values);
            var copies = RowFormat.WithCopies(RowBuilder.FromText(values), 3);
            Assert.Equal(3, new RowView(copies).Copies);
            AssertReadsBack(copies, values);
            Assert.Equal(1, new RowView(RowFormat.WithCopies(copies, 1)).Copies);
        }
    }

    [Fact]
    public void Unchanged_columns_keep_their_state_and_a_tombstone_has_no_columns()
    {
        var builder = new RowBuilder();
        builder.AddText("k");
        builder.AddUnchanged();
        builder.AddNull();
        var view = new RowView(builder.Build());
        Assert.Equal([ColumnState.Value, ColumnState.Unchanged, ColumnState.Null], [view.State(0), view.State(1), view.State(2)]);
        Assert.Equal("k", Encoding.UTF8.GetString(view.Value(0)));
        Assert.True(view.Value(1).IsEmpty);

        var tombstone = new RowView(RowFormat.NewTombstone());
        Assert.True(tombstone.IsTombstone);
        Assert.Equal(0, tombstone.ColumnCount);
        Assert.Equal(0, tombstone.PayloadLength);
    }

    [Fact]
    public void A_batch_holds_the_same_encoding_as_an_array()
    {
        var batch = new RowBatch();
        var builder = new RowBuilder();
        builder.AddText("a");
        builder.AddNull();
        builder.BuildInto(batch);
        builder.AddText("b");
        builder.AddText("c");
        builder.BuildInto(batch);
        var bodies = new List<byte[]>();
        foreach (var row in batch) bodies.Add(row.Body.ToArray());
        Assert.Equal(RowBuilder.FromText("a", null).AsSpan(RowFormat.BodyOffset).ToArray(), bodies[0]);
        Assert.Equal(RowBuilder.FromText("b", "c").AsSpan(RowFormat.BodyOffset).ToArray(), bodies[1]);
    }
}
