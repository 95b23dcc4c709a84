using System.Buffers;
using Pgrelay.Core.Model;

namespace Pgrelay.Core.Rendering;

/// <summary>
/// Renders a PostgreSQL array literal ("{1,2}", "{{\"a b\",NULL},{c,d}}") as a JSON array whose elements
/// render with the element type. The literal is checked completely before anything is written, because
/// an IBufferWriter cannot take bytes back: anything unexpected, including the "[0:1]={...}" bounds
/// prefix of arrays not starting at 1, renders the whole value as the string PostgreSQL printed.
/// </summary>
public static class ArrayRenderer
{
    /// <param name="delimiter">The element type's typdelim: ',' for every type but box, whose values hold commas (';').</param>
    /// <param name="record">For an array of composites (elementKind Record), the composite's fields.</param>
    public static void Write(ReadOnlySpan<byte> text, PgTypeKind elementKind, IBufferWriter<byte> output, byte delimiter = (byte)',',
        RecordShape? record = null) => Write(text, elementKind, output, delimiter, record, 0);

    internal static void Write(ReadOnlySpan<byte> text, PgTypeKind elementKind, IBufferWriter<byte> output, byte delimiter,
        RecordShape? record, int depth)
    {
        if (elementKind is PgTypeKind.Array or PgTypeKind.SemicolonArray) elementKind = PgTypeKind.Text;   // elements are never arrays themselves
        if (!new ArrayLiteralWalker(text, elementKind, null, delimiter, record, depth).Walk())
        {
            JsonStringWriter.Write(text, output);
            return;
        }
        var walker = new ArrayLiteralWalker(text, elementKind, output, delimiter, record, depth);
        try
        {
            walker.Walk();
        }
        finally
        {
            walker.ReturnScratch();
        }
    }

    /// <summary>One pass over the literal; validates only when there is no output.</summary>
    private ref struct ArrayLiteralWalker(ReadOnlySpan<byte> text, PgTypeKind elementKind, IBufferWriter<byte>? output, byte delimiter,
        RecordShape? record, int depth)
    {
        // PostgreSQL allows 6 dimensions (MAXDIM); a little slack costs nothing and bounds the recursion.
        private const int MaxDepth = 16;

        private readonly ReadOnlySpan<byte> _text = text;
        private readonly IBufferWriter<byte>? _output = output;
        private int _pos;
        private byte[]? _scratch;

        public bool Walk()
        {
            SkipSpaces();
            if (!Array(0)) return false;
            SkipSpaces();
            return _pos == _text.Length;
        }

        public void ReturnScratch()
        {
            if (_scratch is not null) ArrayPool<byte>.Shared.Return(_scratch);
            _scratch = null;
        }

        private bool Array(int depth)
        {
            if (depth >= MaxDepth || !Take((byte)'{')) return false;
            Emit((byte)'[');
            SkipSpaces();
            if (Take((byte)'}'))
            {
                Emit((byte)']');
                return true;
            }
            while (true)
            {
                SkipSpaces();
                if (_pos >= _text.Length) return false;
                byte c = _text[_pos];
                bool ok = c == '{' ? Array(depth + 1) : c == '"' ? QuotedElement() : UnquotedElement();
                if (!ok) return false;
                SkipSpaces();
                if (Take(delimiter))
                {
                    Emit((byte)',');
                    continue;
                }
                if (Take((byte)'}'))
                {
                    Emit((byte)']');
                    return true;
                }
                return false;
            }
        }

        private bool QuotedElement()
        {
            int start = ++_pos;
            bool escaped = false;
            while (_pos < _text.Length)
            {
                byte c = _text[_pos];
                if (c == '\\')
                {
                    escaped = true;
                    _pos += 2;
                    continue;
                }
                if (c == '"')
                {
                    var raw = _text[start.._pos];
                    _pos++;
                    EmitElement(raw, escaped);
                    return true;
                }
                _pos++;
            }
            return false;
        }

        private bool UnquotedElement()
        {
            int start = _pos;
            bool escaped = false;
            while (_pos < _text.Length)
            {
                byte c = _text[_pos];
                if (c == '\\')
                {
                    escaped = true;
                    _pos += 2;
                    continue;
                }
                if (c == delimiter || c == '}') break;
                if (c is (byte)'{' or (byte)'"') return false;
                _pos++;
            }
            if (_pos > _text.Length) return false;   // a trailing lone backslash
            var raw = _text[start.._pos].TrimEnd(" \t\n\r\v\f"u8);
            if (raw.IsEmpty) return false;
            if (!escaped && raw.Length == 4 && System.Text.Ascii.EqualsIgnoreCase(raw, "NULL"u8))
            {
                if (_output is not null) JsonOutput.Write(_output, "null"u8);
                return true;
            }
            EmitElement(raw, escaped);
            return true;
        }

        private void EmitElement(ReadOnlySpan<byte> raw, bool escaped)
        {
            if (_output is null) return;
            if (escaped) raw = Unescape(raw);
            JsonValueRenderer.WriteValue(elementKind, elementKind, raw, _output, record, depth + 1);
        }

        /// <summary>Drops the backslashes of "\"" and "\\" into a pooled buffer; an element is never longer than the literal.</summary>
        private ReadOnlySpan<byte> Unescape(ReadOnlySpan<byte> raw)
        {
            _scratch ??= ArrayPool<byte>.Shared.Rent(_text.Length);
            int n = 0;
            for (int i = 0; i < raw.Length; i++)
            {
                if (raw[i] == '\\' && i + 1 < raw.Length) i++;
                _scratch[n++] = raw[i];
            }
            return _scratch.AsSpan(0, n);
        }

        private bool Take(byte c)
        {
            if (_pos < _text.Length && _text[_pos] == c)
            {
                _pos++;
                return true;
            }
            return false;
        }

        private void SkipSpaces()
        {
            while (_pos < _text.Length && _text[_pos] is (byte)' ' or (byte)'\t' or (byte)'\n' or (byte)'\r' or (byte)'\v' or (byte)'\f')
                _pos++;
        }

        private readonly void Emit(byte c)
        {
            if (_output is not null) JsonOutput.WriteByte(_output, c);
        }
    }
}
