using Npgsql.Replication.PgOutput;
using Pgrelay.Core.Rows;

namespace Pgrelay.Replication.Streaming;

/// <summary>
/// Copies a pgoutput tuple into an encoded row. Npgsql reuses message and value objects, so every value is
/// copied out before the next message is read; values are read as raw bytes (never as strings) through a
/// reusable scratch buffer.
/// </summary>
internal sealed class TupleReader
{
    private readonly RowBuilder _builder = new();
    private readonly byte[] _scratch = new byte[16 * 1024];

    public async ValueTask<byte[]> ReadAsync(ReplicationTuple tuple, int expectedColumns, CancellationToken ct)
    {
        _builder.Reset();
        await foreach (var value in tuple.ConfigureAwait(false))
        {
            switch (value.Kind)
            {
                case TupleDataKind.Null:
                    _builder.AddNull();
                    break;
                case TupleDataKind.UnchangedToastedValue:
                    _builder.AddUnchanged();
                    break;
                case TupleDataKind.TextValue:
                    await CopyValueAsync(value, ct).ConfigureAwait(false);
                    break;
                default:
                    throw new InvalidDataException($"pgoutput sent a {value.Kind} value; pgrelay asks for text values only");
            }
        }
        if (_builder.ColumnCount != expectedColumns)
            throw new InvalidDataException($"pgoutput sent {_builder.ColumnCount} columns where the table has {expectedColumns}");
        return _builder.Build();
    }

    private async ValueTask CopyValueAsync(ReplicationValue value, CancellationToken ct)
    {
        _builder.BeginValue();
        int remaining = value.Length;
        if (remaining > 0)
        {
            var stream = value.GetStream();
            await using (stream.ConfigureAwait(false))
            {
                while (remaining > 0)
                {
                    int n = await stream.ReadAsync(_scratch.AsMemory(0, Math.Min(remaining, _scratch.Length)), ct).ConfigureAwait(false);
                    if (n == 0) throw new EndOfStreamException("replication value ended early");
                    _scratch.AsSpan(0, n).CopyTo(_builder.GetSpan(n));
                    _builder.Advance(n);
                    remaining -= n;
                }
            }
        }
        _builder.EndValue();
    }
}
