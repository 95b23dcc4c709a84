using System.Buffers;
using Pgrelay.Core.Model;

namespace Pgrelay.Core.Rendering;

/// <summary>
/// Renders a composite value, held as PostgreSQL's record text ("(1,,\"a \"\"b\"\"\",\"(2,x)\")"), as the JSON object
/// <c>to_jsonb</c> makes of it: the shape's field names in attnum order, each value rendered as a column of the field's type
/// would be, an empty field as null. The text is read as record_in reads it (a quoted part doubles '"', a backslash takes
/// the next byte as it is). It is checked completely before anything is written, because an IBufferWriter cannot take bytes
/// back: a text that does not parse, or holds another number of fields than the shape (a type altered since it was
/// introspected, until the table is loaded again), renders as the string PostgreSQL printed.
/// </summary>
public static class RecordRenderer
{
    // Composites nest through fields and arrays; PostgreSQL's own limit is the stack. A bound keeps ours finite.
    private const int MaxDepth = 64;

    public static void Write(ReadOnlySpan<byte> text, RecordShape? shape, IBufferWriter<byte> output) => Write(text, shape, output, 0);

    internal static void Write(ReadOnlySpan<byte> text, RecordShape? shape, IBufferWriter<byte> output, int depth)
    {
        if (shape is null || depth >= MaxDepth || !new FieldWalker(text, shape, null, depth).Walk())
        {
            JsonStringWriter.Write(text, output);
            return;
        }
        var walker = new FieldWalker(text, shape, output, depth);
        try
        {
            walker.Walk();
        }
        finally
        {
            walker.ReturnScratch();
        }
    }

    /// <summary>How many fields a composite's text holds (the commas outside quotes, plus one); -1 when it is not "(…)".
    /// Nested composites are quoted in it, so their commas do not count.</summary>
    public static int FieldCount(ReadOnlySpan<byte> text)
    {
        if (text.Length < 2 || text[0] != '(' || text[^1] != ')') return -1;
        int fields = 1;
        bool quoted = false;
        for (int i = 1; i < text.Length - 1; i++)
        {
            byte c = text[i];
            if (c == '\\') i++;
            else if (c == '"') quoted = !quoted;   // a doubled quote inside quotes toggles twice: no change
            else if (c == ',' && !quoted) fields++;
        }
        return fields;
    }

    /// <summary>One pass over the text; validates only when there is no output.</summary>
    private ref struct FieldWalker(ReadOnlySpan<byte> text, RecordShape shape, IBufferWriter<byte>? output, int depth)
    {
        private readonly ReadOnlySpan<byte> _text = text;
        private readonly IBufferWriter<byte>? _output = output;
        private int _pos;
        private byte[]? _scratch;

        public bool Walk()
        {
            var fields = shape.Fields;
            if (_text.Length < 2 || _text[0] != '(' || _text[^1] != ')') return false;
            _pos = 1;
            Emit((byte)'{');
            for (int i = 0; ; i++)
            {
                if (i >= fields.Count) return false;   // more fields than the shape knows
                if (!Field(fields[i], i)) return false;
                if (_pos >= _text.Length) return false;
                byte stop = _text[_pos++];
                if (stop == ')')
                {
                    Emit((byte)'}');
                    return _pos == _text.Length && i == fields.Count - 1;   // fewer fields than the shape knows: not ours
                }
            }
        }

        public void ReturnScratch()
        {
            if (_scratch is not null) ArrayPool<byte>.Shared.Return(_scratch);
            _scratch = null;
        }

        /// <summary>One field up to (not past) its ',' or ')': nothing at all is NULL, "" is an empty string.</summary>
        private bool Field(RecordField field, int index)
        {
            int start = _pos;
            bool special = false, quoted = false;
            while (true)
            {
                if (_pos >= _text.Length) return false;
                byte c = _text[_pos];
                if (!quoted && c is (byte)',' or (byte)')') break;
                if (c == '\\')
                {
                    special = true;
                    _pos += 2;
                    continue;
                }
                if (c == '"')
                {
                    special = true;
                    if (quoted && _pos + 1 < _text.Length && _text[_pos + 1] == '"') _pos += 2;
                    else
                    {
                        quoted = !quoted;
                        _pos++;
                    }
                    continue;
                }
                _pos++;
            }
            if (_output is null) return true;
            if (index > 0) JsonOutput.WriteByte(_output, (byte)',');
            JsonStringWriter.Write(field.Utf8Name, _output);
            JsonOutput.WriteByte(_output, (byte)':');
            var raw = _text[start.._pos];
            if (raw.IsEmpty)
            {
                JsonOutput.Write(_output, "null"u8);
                return true;
            }
            if (special) raw = Unquote(raw);
            if (field.Kind == PgTypeKind.Record) Write(raw, field.Record, _output, depth + 1);
            else JsonValueRenderer.WriteValue(field.Kind, field.ElementKind, raw, _output, field.Record, depth + 1);
            return true;
        }

        /// <summary>The field's value as record_in reads it, into a pooled buffer; a value is never longer than the text.
        /// Nested values are rendered before the next field is read, so one buffer per level serves them all.</summary>
        private ReadOnlySpan<byte> Unquote(ReadOnlySpan<byte> raw)
        {
            _scratch ??= ArrayPool<byte>.Shared.Rent(_text.Length);
            int n = 0;
            bool quoted = false;
            for (int i = 0; i < raw.Length; i++)
            {
                byte c = raw[i];
                if (c == '\\' && i + 1 < raw.Length) c = raw[++i];
                else if (c == '"')
                {
                    if (quoted && i + 1 < raw.Length && raw[i + 1] == '"') i++;
                    else
                    {
                        quoted = !quoted;
                        continue;
                    }
                }
                _scratch[n++] = c;
            }
            return _scratch.AsSpan(0, n);
        }

        private readonly void Emit(byte c)
        {
            if (_output is not null) JsonOutput.WriteByte(_output, c);
        }
    }
}
