using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace Pgrelay.Core.Rows;

/// <summary>
/// Builds encoded rows (<see cref="RowFormat"/>). Reusable and not thread-safe: one per decoder or
/// copier. Values can be added whole or written incrementally with GetSpan/Advance, so a decoder can
/// copy bytes straight out of a reused network buffer.
/// </summary>
public sealed class RowBuilder
{
    private byte[] _payload = new byte[1024];
    private int _payloadLength;
    private int[] _ends = new int[64];
    private ColumnState[] _states = new ColumnState[64];
    private int _columns;
    private int _notValues;   // columns that are NULL or unchanged: a row without any needs no states
    private int _valueStart = -1;

    public int ColumnCount => _columns;

    public void Reset()
    {
        _payloadLength = 0;
        _columns = 0;
        _notValues = 0;
        _valueStart = -1;
    }

    public void AddNull() => AddState(ColumnState.Null);
    public void AddUnchanged() => AddState(ColumnState.Unchanged);

    public void AddValue(ReadOnlySpan<byte> utf8)
    {
        EnsurePayload(utf8.Length);
        utf8.CopyTo(_payload.AsSpan(_payloadLength));
        _payloadLength += utf8.Length;
        AddState(ColumnState.Value);
    }

    /// <summary>Adds a value in PostgreSQL's text form, or NULL for null.</summary>
    public void AddText(string? text)
    {
        if (text is null) AddNull();
        else AddValue(text);
    }

    /// <summary>A row from PostgreSQL text values (null: SQL NULL), for rows built from query results, tests and benchmarks.</summary>
    public static byte[] FromText(params ReadOnlySpan<string?> values)
    {
        var builder = new RowBuilder();
        foreach (var v in values) builder.AddText(v);
        return builder.Build();
    }

    public void AddValue(string text)
    {
        EnsurePayload(Encoding.UTF8.GetMaxByteCount(text.Length));
        _payloadLength += Encoding.UTF8.GetBytes(text, _payload.AsSpan(_payloadLength));
        AddState(ColumnState.Value);
    }

    public void AddValue(ReadOnlySequence<byte> utf8)
    {
        EnsurePayload(checked((int)utf8.Length));
        utf8.CopyTo(_payload.AsSpan(_payloadLength));
        _payloadLength += (int)utf8.Length;
        AddState(ColumnState.Value);
    }

    /// <summary>Starts a value written in pieces with <see cref="GetSpan"/> and <see cref="Advance"/>.</summary>
    public void BeginValue() => _valueStart = _payloadLength;

    public Span<byte> GetSpan(int sizeHint)
    {
        EnsurePayload(Math.Max(sizeHint, 16));
        return _payload.AsSpan(_payloadLength);
    }

    public void Advance(int count) => _payloadLength += count;

    public void EndValue()
    {
        if (_valueStart < 0) throw new InvalidOperationException("EndValue without BeginValue");
        _valueStart = -1;
        AddState(ColumnState.Value);
    }

    /// <summary>Copies column <paramref name="column"/> of an existing row, keeping its state.</summary>
    public void AddFrom(RowView row, int column)
    {
        switch (row.State(column))
        {
            case ColumnState.Value: AddValue(row.Value(column)); break;
            case ColumnState.Null: AddNull(); break;
            default: AddUnchanged(); break;
        }
    }

    /// <summary>Encodes the columns added since the last Reset into a new array, and resets.</summary>
    public byte[] Build()
    {
        var row = new byte[EncodedLength];
        Encode(row);
        return row;
    }

    /// <summary>Encodes the columns added since the last Reset into <paramref name="batch"/> (no array of its own), and
    /// resets.</summary>
    public void BuildInto(RowBatch batch) => Encode(batch.Reserve(EncodedLength));

    private byte EncodedFlags =>
        (byte)(RowFormat.OffsetWidthCode(RowFormat.OffsetWidth(_payloadLength))
            | (_columns > byte.MaxValue ? RowFormat.WideCount : 0) | (_notValues == 0 ? RowFormat.AllValues : 0));

    private int EncodedLength
    {
        get
        {
            byte flags = EncodedFlags;
            return RowFormat.CountOffset + RowFormat.CountSize(flags) + RowFormat.StatesLength(flags, _columns)
                + _columns * RowFormat.OffsetWidth(_payloadLength) + _payloadLength;
        }
    }

    private void Encode(Span<byte> row)
    {
        int n = _columns;
        byte flags = EncodedFlags;
        int width = RowFormat.OffsetWidth(_payloadLength);
        int states = RowFormat.CountOffset + RowFormat.CountSize(flags);
        int offsets = states + RowFormat.StatesLength(flags, n);
        int payload = offsets + n * width;
        row[..payload].Clear();
        row[RowFormat.FlagsOffset] = flags;
        if ((flags & RowFormat.WideCount) != 0) BinaryPrimitives.WriteUInt16LittleEndian(row[RowFormat.CountOffset..], (ushort)n);
        else row[RowFormat.CountOffset] = (byte)n;
        bool withStates = (flags & RowFormat.AllValues) == 0;
        for (int i = 0; i < n; i++)
        {
            if (withStates) row[states + (i >> 2)] |= (byte)((int)_states[i] << ((i & 3) << 1));
            switch (width)
            {
                case 1: row[offsets + i] = (byte)_ends[i]; break;
                case 2: BinaryPrimitives.WriteUInt16LittleEndian(row[(offsets + i * 2)..], (ushort)_ends[i]); break;
                default: BinaryPrimitives.WriteInt32LittleEndian(row[(offsets + i * 4)..], _ends[i]); break;
            }
        }
        _payload.AsSpan(0, _payloadLength).CopyTo(row[payload..]);
        Reset();
    }

    private void AddState(ColumnState state)
    {
        if (_columns == ushort.MaxValue) throw new InvalidOperationException("too many columns");
        if (_columns == _ends.Length)
        {
            Array.Resize(ref _ends, _columns * 2);
            Array.Resize(ref _states, _columns * 2);
        }
        _states[_columns] = state;
        if (state != ColumnState.Value) _notValues++;
        _ends[_columns] = _payloadLength;
        _columns++;
    }

    private void EnsurePayload(int extra)
    {
        long need = (long)_payloadLength + extra;
        if (need <= _payload.Length) return;
        Array.Resize(ref _payload, (int)Math.Min(Array.MaxLength, Math.Max(need, _payload.Length * 2L)));
    }
}
