using Pgrelay.Core.Rows;

namespace Pgrelay.Replication.Snapshot;

/// <summary>
/// Parses PostgreSQL's COPY TEXT format (tab-separated fields, newline-terminated rows, <c>\N</c> for NULL,
/// backslash escapes including octal <c>\ooo</c> and hex <c>\xHH</c>) from arbitrary chunks straight into a
/// <see cref="RowBuilder"/>. Unescaped runs are copied in bulk; only escapes go byte by byte. Not thread-safe.
/// </summary>
public sealed class CopyTextParser
{
    private enum Escape : byte { None, Backslash, Octal, Hex }

    private readonly RowBuilder _builder = new();
    private readonly int _columns;
    private Escape _escape;
    private int _escapeDigits, _escapeValue;
    private bool _fieldOpen, _fieldNull;

    public CopyTextParser(int columns) => _columns = columns;

    /// <summary>Parses a chunk; each completed row is built and appended to <paramref name="rows"/>.</summary>
    public void Feed(ReadOnlySpan<byte> chunk, List<byte[]> rows)
    {
        int i = 0;
        while (i < chunk.Length)
        {
            if (!_fieldOpen)
            {
                _builder.BeginValue();
                _fieldOpen = true;
                _fieldNull = false;
            }
            if (_escape != Escape.None)
            {
                if (ContinueEscape(chunk[i])) i++;
                continue;
            }
            var rest = chunk[i..];
            int special = rest.IndexOfAny((byte)'\t', (byte)'\n', (byte)'\\');
            if (special < 0)
            {
                Write(rest);
                return;
            }
            if (special > 0) Write(rest[..special]);
            i += special + 1;
            switch (rest[special])
            {
                case (byte)'\t':
                    EndField();
                    break;
                case (byte)'\n':
                    EndField();
                    if (_builder.ColumnCount != _columns)
                        throw new FormatException($"COPY row has {_builder.ColumnCount} fields, expected {_columns}");
                    rows.Add(_builder.Build());
                    break;
                default:
                    _escape = Escape.Backslash;
                    break;
            }
        }
    }

    /// <summary>Throws when the data ended in the middle of a row.</summary>
    public void Finish()
    {
        if (_fieldOpen || _builder.ColumnCount > 0 || _escape != Escape.None)
            throw new FormatException("COPY data ended in the middle of a row");
    }

    /// <summary>Consumes one byte of an escape sequence; returns false when the byte ends the sequence without belonging to it.</summary>
    private bool ContinueEscape(byte b)
    {
        switch (_escape)
        {
            case Escape.Backslash:
                _escape = Escape.None;
                switch (b)
                {
                    case (byte)'N': _fieldNull = true; return true;
                    case (byte)'b': Put(8); return true;
                    case (byte)'f': Put(12); return true;
                    case (byte)'n': Put(10); return true;
                    case (byte)'r': Put(13); return true;
                    case (byte)'t': Put(9); return true;
                    case (byte)'v': Put(11); return true;
                    case (byte)'x':
                        _escape = Escape.Hex; _escapeDigits = 0; _escapeValue = 0;
                        return true;
                    case >= (byte)'0' and <= (byte)'7':
                        _escape = Escape.Octal; _escapeDigits = 1; _escapeValue = b - '0';
                        return true;
                    default: Put(b); return true;  // \\ and any other escaped character stand for themselves
                }
            case Escape.Octal:
                if (b is >= (byte)'0' and <= (byte)'7' && _escapeDigits < 3)
                {
                    _escapeValue = (_escapeValue << 3) | (b - '0');
                    if (++_escapeDigits == 3) { Put((byte)_escapeValue); _escape = Escape.None; }
                    return true;
                }
                Put((byte)_escapeValue);
                _escape = Escape.None;
                return false;
            case Escape.Hex:
                int digit = HexValue(b);
                if (digit >= 0 && _escapeDigits < 2)
                {
                    _escapeValue = (_escapeValue << 4) | digit;
                    if (++_escapeDigits == 2) { Put((byte)_escapeValue); _escape = Escape.None; }
                    return true;
                }
                // "\x" with no hex digit is a literal x, as in PostgreSQL's reader.
                if (_escapeDigits == 0) Put((byte)'x'); else Put((byte)_escapeValue);
                _escape = Escape.None;
                return false;
            default:
                return false;
        }
    }

    private void EndField()
    {
        if (_fieldNull) _builder.AddNull();
        else _builder.EndValue();
        _fieldOpen = false;
    }

    private void Write(ReadOnlySpan<byte> bytes)
    {
        bytes.CopyTo(_builder.GetSpan(bytes.Length));
        _builder.Advance(bytes.Length);
    }

    private void Put(byte b)
    {
        _builder.GetSpan(1)[0] = b;
        _builder.Advance(1);
    }

    private static int HexValue(byte b) => b switch
    {
        >= (byte)'0' and <= (byte)'9' => b - '0',
        >= (byte)'a' and <= (byte)'f' => b - 'a' + 10,
        >= (byte)'A' and <= (byte)'F' => b - 'A' + 10,
        _ => -1,
    };
}
